"""The live contract's reading of an export file: compression by the file's first bytes and the header,
byte-order mark, column order and columns next to one person's attributes (the sandbox cannot yet make
every such file; these are made by hand)."""

from __future__ import annotations

import gzip

import pytest

from integration_tests.live.export_probe import analyze_export_file, compare_with_person

CSV = b"cio_id,id,email,plan,first_name\n3000001,p1,a@example.com,pro,Ada\n"
ATTRIBUTES = {"cio_id": "3000001", "id": "p1", "email": "a@example.com", "plan": "pro", "first_name": "Ada"}


@pytest.mark.parametrize(
    ("raw", "encoding", "compression", "bom"),
    [
        (CSV, "", "none", False),
        (gzip.compress(CSV), "gzip", "gzip", False),
        (gzip.compress(CSV), "", "gzip_no_header", False),
        (b"\xef\xbb\xbf" + CSV, "", "none", True),
        (gzip.compress(b"\xef\xbb\xbf" + CSV), "GZIP", "gzip", True),
    ],
)
def test_compression_and_bom_are_read_from_the_bytes(raw, encoding, compression, bom):
    analysis = analyze_export_file(raw, encoding)
    assert (analysis["export_compression"], analysis["export_bom"]) == (compression, bom)
    assert analysis["header"] == ["cio_id", "id", "email", "plan", "first_name"]
    assert analysis["rows"] == [
        {"cio_id": "3000001", "id": "p1", "email": "a@example.com", "plan": "pro", "first_name": "Ada"}
    ]


def test_a_file_like_the_sandboxs_default():
    found = compare_with_person(analyze_export_file(CSV), ATTRIBUTES)
    assert {k: v for k, v in found.items() if k.startswith("export_")} == {
        "export_cio_id_column": True,
        "export_column_order": "fixed",
        "export_extra_columns": False,
        "export_attributes_only_when_asked": False,
    }


def test_no_cio_id_column_and_missing_attributes():
    raw = b"email,id,plan\na@example.com,p1,pro\n"
    found = compare_with_person(analyze_export_file(raw), ATTRIBUTES)
    assert found["export_cio_id_column"] is False
    assert found["export_column_order"] is None  # said only when the identifier columns are there
    assert found["export_attributes_only_when_asked"] is True
    assert found["missing_attributes"] == ["first_name"]


def test_shuffled_columns_and_a_column_that_is_no_attribute():
    raw = b"plan,email,cio_id,id,segment_ids,company\npro,a@example.com,3000001,p1,7;9,\n"
    found = compare_with_person(analyze_export_file(raw), ATTRIBUTES)
    assert found["export_column_order"] == "shuffled"
    # segment_ids has a value but is not an attribute; company is empty (another person's attribute).
    assert found["unknown_columns"] == ["segment_ids"]
    assert found["export_extra_columns"] is True
