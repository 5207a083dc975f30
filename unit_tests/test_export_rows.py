"""Export rows as JSON text (export_rows.PersonRows.take_json) are the CDK's RECORD data for the same
rows' records, and the file's rows (export_file.DataLines) are csv.reader's, on files of every kind:
quoted JSON cells, quoted line breaks, backslashes, tabs and other control characters, non-ASCII and
unprintable characters, blank and ragged lines, empty identifiers, a column twice, typed columns."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import orjson
import pytest
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.sources.utils.record_helper import stream_data_to_airbyte_message

from source_customerio.records import render_json
from source_customerio.streams.attribute_columns import AttributeColumns, Column, column_name
from source_customerio.streams.export_file import COPY_CHUNK, DataLines, needs_escapes, read_layout
from source_customerio.streams.export_rows import PersonRows

TRICKY_CELLS = [
    "",
    "plain",
    "with space ",
    '{"topics":{"topic_1":true}}',
    "back\\slash",
    "tab\there",
    "bell\x07",
    "line one\nline two",
    "cr\rinside",
    "é ✓ 😀",
    "sep\u2028arator",
    "nb\xa0sp",
    "del\x7f",
    "unit\x1fseparator",
    "quote\"'",
    "7",
    "-3.5",
    "true",
    "1700000000",
]
# What a JSON string holds as it is, but for double quotes and the line breaks of a quoted cell: a file
# of these needs no escapes (export_file.needs_escapes), and its rows take the plain path.
PLAIN_CELLS = [
    cell for cell in TRICKY_CELLS if not any(c == "\\" or (c < " " and c not in "\r\n") for c in cell)
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode("utf-8"))
    return path


def csv_text(header: list[str], rows: list[list[str]], terminator: str = "\r\n") -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=terminator)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def cdk_data(record: dict) -> dict:
    line = AirbyteEntrypoint.airbyte_message_to_string(stream_data_to_airbyte_message("customers", record))
    return orjson.loads(line)["record"]["data"]


def both_ways(path: Path, resolved=None, columns=None, limits=(3, 1, 1000)) -> tuple[list, list]:
    """The rows read as records then written by the CDK, and as take_json's text, parsed; with the
    positions after each call, which must agree too."""
    layout = read_layout(path)
    assert layout is not None
    as_records, as_text = [], []
    dicts = PersonRows(path, layout, resolved or {}, columns)
    texts = PersonRows(path, layout, resolved or {}, columns)
    for limit in limits:
        as_records.append(([cdk_data(r) for r in dicts.take(limit)], dicts.position))
        as_text.append(([orjson.loads(t) for t in texts.take_json(limit)], texts.position))
    dicts.close()
    texts.close()
    return as_records, as_text


def test_a_plain_row_is_written_as_hand_expected(tmp_path):
    path = write(tmp_path, "cio_id,id,email,plan,score\r\n11,,a@example.com,pro,\r\n")
    rows = PersonRows(path, read_layout(path), {})
    [text] = rows.take_json(10)
    assert orjson.loads(text) == {
        "cio_id": "11",
        "email": "a@example.com",
        "identifiers": {"cio_id": "11", "id": None, "email": "a@example.com"},
        "attributes": {"cio_id": "11", "email": "a@example.com", "plan": "pro"},
    }
    assert rows.position == 1
    line = render_json("customers", [text], emitted_at=5)
    assert orjson.loads(line) == {
        "type": "RECORD",
        "record": {"stream": "customers", "data": orjson.loads(text), "emitted_at": 5},
    }


@pytest.mark.parametrize("terminator", ["\r\n", "\n"])
@pytest.mark.parametrize("cells, escapes", [(TRICKY_CELLS, True), (PLAIN_CELLS, False)])
def test_every_kind_of_cell_gives_the_cdks_record(tmp_path, terminator, cells, escapes):
    header = ["plan", "email", "cio_id", "id", "notes", "Notes"]
    rows = [
        ["pro", f"p{n}@x", str(100 + n), f"id{n}" if n % 3 else "", cell, cell[::-1]]
        for n, cell in enumerate(cells)
    ]
    text = csv_text(header, rows, terminator)
    blank_line_too = text.replace(terminator, terminator + terminator, 1)
    path = write(tmp_path, "\ufeff" + blank_line_too)
    assert needs_escapes(path) is escapes
    as_records, as_text = both_ways(path, limits=(5, 1, 100))
    assert as_text == as_records
    assert sum(len(records) for records, _ in as_text) == len(rows)


def test_ragged_rows_and_rows_without_cio_id_give_the_cdks_records(tmp_path):
    text = (
        "cio_id,id,email,plan\n"
        "1,p1,a@x,pro\n"
        "2,p2\n"  # short: the missing cells are empty
        "3,p3,c@x,free,extra\n"  # long: the extra cell has no name
        ",p4,d@x,pro\n"  # resolved by hydration
        ",p5,e@x,pro\n"  # gone since the export: left out, but consumed
        "\n"
        "6,,,\n"
    )
    as_records, as_text = both_ways(write(tmp_path, text), resolved={4: "44", 5: None}, limits=(4, 1, 10))
    assert as_text == as_records
    assert as_text[0][1] == 4 and as_text[1] == ([], 5)  # the left-out row is consumed, nothing emitted
    assert [r["cio_id"] for records, _ in as_text for r in records] == ["1", "2", "3", "44", "6"]


def test_a_name_twice_in_the_header_keeps_the_last_cell_as_a_dict_does(tmp_path):
    path = write(tmp_path, "cio_id,plan,plan\n1,free,pro\n")
    as_records, as_text = both_ways(path)
    assert as_text == as_records
    assert as_text[0][0][0]["attributes"]["plan"] == "pro"
    # Once in the text too: a parser that keeps a key's first value reads the same record.
    [text] = PersonRows(path, read_layout(path), {}).take_json(1)
    assert text.count('"plan":') == 1


def test_files_without_id_or_email_columns(tmp_path):
    for header in ("cio_id,plan", "cio_id,id,plan", "email,cio_id,plan"):
        path = write(tmp_path, header + "\n" + "\n".join(f"{n},{n}x,p" for n in range(1, 6)) + "\n")
        as_records, as_text = both_ways(path)
        assert as_text == as_records and sum(len(r) for r, _ in as_text) == 5


def test_typed_columns_give_the_cdks_record(tmp_path):
    kinds = {
        "score": "integer",
        "ltv": "number",
        "vip": "boolean",
        "plan": "string",
        "Signup Source": "string",
    }
    columns = AttributeColumns(Column(str(column_name(raw)), kind, raw) for raw, kind in kinds.items())
    header = ["cio_id", "score", "ltv", "vip", "plan", "Signup Source"]
    rows = [
        ["1", "7", "3.25", "true", "pro", "ads"],
        ["2", "seven", "x", "maybe", "", "tab\there"],  # misfits become nulls, left out at the top level
        ["3", "", "", "", "", ""],
        ["4", "9007199254740993", "1e3", "FALSE", 'a "quoted" plan', "é"],
    ]
    as_records, as_text = both_ways(write(tmp_path, csv_text(header, rows)), columns=columns)
    assert as_text == as_records
    first = as_text[0][0][0]
    typed = (first["attr_score"], first["attr_ltv"], first["attr_vip"], first["attr_plan"])
    assert typed == (7, 3.25, True, "pro")
    assert "attr_score" not in as_text[0][0][1]


def test_random_files_read_as_csv_reader_reads_them(tmp_path):
    escaped = ["\\", "\t", "\x1f"]
    plain = ["a", "b", " ", ",", '"', "\n", "\r", "é", "\u2028", "\x7f", "{", "}", ":", "1"]
    pick = random.Random(20261202)
    for attempt in range(40):
        chars = plain + escaped if attempt % 2 else plain  # files that need escapes, and files that do not
        width = pick.randint(3, 7)
        header = ["cio_id", "id", "email"] + [f"c{k}" for k in range(width - 3)]
        rows = []
        for n in range(pick.randint(0, 30)):
            cells = ["".join(pick.choices(chars, k=pick.randint(0, 6))) for _ in range(width)]
            cells[0] = str(n + 1) if pick.random() > 0.1 else ""
            rows.append(cells[: pick.randint(1, width)] if pick.random() < 0.1 else cells)
        text = csv_text(header, rows, pick.choice(["\r\n", "\n"]))
        path = write(tmp_path, text)
        with DataLines(path) as lines:
            got = list(lines.rows())
        assert got == list(csv.reader(io.StringIO(text, newline="")))[1:], attempt
        resolved = {k: (f"r{k}" if k % 2 else None) for k in range(1, 40)}
        as_records, as_text = both_ways(path, resolved=resolved, limits=(2, 7, 1000))
        assert as_text == as_records, attempt


def test_a_quoted_header_and_a_header_only_file(tmp_path):
    path = write(tmp_path, '"cio_id","first\nname"\n1,Ada\n')
    as_records, as_text = both_ways(path)
    assert as_text == as_records and as_text[0][0][0]["attributes"] == {"cio_id": "1", "first\nname": "Ada"}
    path = write(tmp_path, "cio_id,id\n")
    rows = PersonRows(path, read_layout(path), {})
    assert rows.take_json(10) == [] and rows.position == 0


def test_a_file_needs_escapes_for_a_backslash_or_a_control_character_anywhere(tmp_path):
    base = "cio_id,notes\r\n1,é ✓ \u2028 \x7f \xa0\r\n" + 'x,"two\nlines\r\nand a ""quote"""\n'
    path = write(tmp_path, base)
    assert not needs_escapes(path)
    for char in ["\\", "\t", "\x00", "\x1f", "\x0b", "\x1b"]:
        assert needs_escapes(write(tmp_path, base + char + "\n")), repr(char)
        # past the first chunk read too
        assert needs_escapes(write(tmp_path, base + "a" * COPY_CHUNK + char)), repr(char)
