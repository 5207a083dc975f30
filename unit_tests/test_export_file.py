"""The customer export file on its own: decompression by magic bytes, the header in any order, the survey
(rows, ragged rows, rows without a cio_id, the spread sample) and rows as person records."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import pytest

from source_customerio.streams.export_file import Layout, decompress_if_gzip, read_layout, survey
from source_customerio.streams.export_rows import PersonRows

PREFS = '{"topics":{"topic_1":true}}'
FILE = (
    "\ufeffplan,email,cio_id,segment_ids,id,cio_subscription_preferences\r\n"
    'pro,a@example.com,11,7;8,p1,"{""topics"":{""topic_1"":true}}"\r\n'
    "\r\n"
    ",b@example.com,12,,,\r\n"
    'free,c@example.com,13,,p3,"line one\nline two"\r\n'
)


def write(tmp_path: Path, text: str, name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def records(path: Path, resolved=None, skip: int = 0, limit: int = 1000) -> list[dict]:
    layout = read_layout(path)
    assert layout is not None
    rows = PersonRows(path, layout, resolved or {})
    rows.skip(skip)
    out = list(rows.take(limit))
    rows.close()
    return out


def test_the_header_is_read_in_any_order_with_a_bom_and_columns_found_by_name(tmp_path):
    layout = read_layout(write(tmp_path, FILE))
    assert layout == Layout(
        ("plan", "email", "cio_id", "segment_ids", "id", "cio_subscription_preferences"), 2, 4, 1
    )
    assert layout.key == ("cio_id", 2)
    assert Layout.of([" Email", "ID "]).key == ("id", 1)
    assert Layout.of(["first_name"]).key is None


def test_rows_become_records_with_quoted_json_and_without_empty_cells(tmp_path):
    first, second, third = records(write(tmp_path, FILE))
    assert first == {
        "cio_id": "11",
        "id": "p1",
        "email": "a@example.com",
        "identifiers": {"cio_id": "11", "id": "p1", "email": "a@example.com"},
        "attributes": {
            "plan": "pro",
            "email": "a@example.com",
            "cio_id": "11",
            "segment_ids": "7;8",
            "id": "p1",
            "cio_subscription_preferences": PREFS,
        },
    }
    assert (second["id"], second["attributes"]) == (None, {"email": "b@example.com", "cio_id": "12"})
    assert third["attributes"]["cio_subscription_preferences"] == "line one\nline two"


def test_skip_and_take_count_data_rows_not_lines(tmp_path):
    path = write(tmp_path, FILE)
    assert [r["cio_id"] for r in records(path, skip=1)] == ["12", "13"]
    assert [r["cio_id"] for r in records(path, limit=2)] == ["11", "12"]


def test_a_row_without_cio_id_takes_the_resolved_one_or_is_left_out(tmp_path):
    path = write(tmp_path, "cio_id,id\n,p1\n,p2\n3,p3\n")
    assert [(r["cio_id"], r["attributes"]["cio_id"]) for r in records(path, {1: "91", 2: None})] == [
        ("91", "91"),
        ("3", "3"),
    ]
    layout = read_layout(path)
    rows = PersonRows(path, layout, {1: "91", 2: None})
    assert len(list(rows.take(2))) == 1 and rows.position == 2  # the left-out row is consumed


def test_a_file_without_cio_id_column_is_not_read_as_people(tmp_path):
    path = write(tmp_path, "id,email\np1,a@example.com\n")
    with pytest.raises(ValueError, match="cio_id column"):
        PersonRows(path, read_layout(path), {})


@pytest.mark.parametrize("packed", [True, False])
def test_gzip_is_recognised_by_its_first_bytes(tmp_path, packed):
    data = FILE.encode()
    path = tmp_path / "export.csv"
    path.write_bytes(gzip.compress(data) if packed else data)
    assert decompress_if_gzip(path) is packed
    assert path.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv"]


def test_the_survey_counts_rows_ragged_rows_and_rows_without_cio_id(tmp_path):
    path = write(tmp_path, "cio_id,id,email\n1,p1,a@x\n\n,p2,b@x\n3,p3\n,,c@x\n4,p4,d@x,extra\n")
    found = survey(path, read_layout(path))
    assert (found.rows, found.ragged, found.unkeyed_count) == (5, 2, 2)
    assert found.unkeyed == [(2, "p2", "b@x"), (4, None, "c@x")]
    assert [row[0] for row in found.sample] == ["1"]  # only rows with a cio_id are sampled


def test_the_sample_is_spread_over_the_whole_file(tmp_path):
    path = write(tmp_path, "cio_id,id\n" + "".join(f"{n},p{n}\n" for n in range(1, 10_001)))
    found = survey(path, read_layout(path))
    picked = [int(row[0]) for row in found.sample]
    assert found.rows == 10_000 and len(picked) == 100 and picked == sorted(set(picked))
    assert picked[0] <= 100 and picked[-1] >= 9_800
    gaps = [b - a for a, b in itertools.pairwise(picked)]
    assert max(gaps) <= 2 * min(gaps) + 64


def test_an_empty_file_has_no_layout(tmp_path):
    assert read_layout(write(tmp_path, "")) is None


@pytest.mark.parametrize("cio_column", [0, 2, None])
def test_the_survey_counts_as_csv_reader_reads_rows_anywhere_in_a_long_file(tmp_path, cio_column):
    import csv
    import io
    import random

    pick = random.Random(cio_column or 7)
    names = ["id", "email", "plan", "notes"]
    if cio_column is not None:
        names.insert(cio_column, "cio_id")
    lines = [",".join(names)]
    for n in range(1, 6_001):
        cells = [f"p{n}", f"{n}@x", "pro", pick.choice(["", "a", '"x, ""y"""', '"two\nlines"'])]
        if cio_column is not None:
            cells.insert(cio_column, "" if pick.random() < 0.01 else str(n))
        if pick.random() < 0.01:
            cells = cells[:-1] if pick.random() < 0.5 else [*cells, "extra"]
        lines.append(",".join(cells))
        if pick.random() < 0.01:
            lines.append("")
    text = "\r\n".join(lines) + "\r\n"
    path = write(tmp_path, text)
    rows = [row for row in list(csv.reader(io.StringIO(text, newline="")))[1:] if row]
    ragged = [n for n, row in enumerate(rows, 1) if len(row) != len(names)]
    unkeyed = [
        (n, row[names.index("id")], row[names.index("email")])
        for n, row in enumerate(rows, 1)
        if cio_column is not None and n not in ragged and not row[cio_column]
    ]
    found = survey(path, read_layout(path))
    assert (found.rows, found.ragged, found.unkeyed_count) == (len(rows), len(ragged), len(unkeyed))
    assert (found.unkeyed == unkeyed and len(unkeyed) > 10) or cio_column is None
    assert len(found.sample) == 100 and all(row in rows for row in found.sample)
    key = cio_column if cio_column is not None else names.index("id")
    assert all(row[key] for row in found.sample)
