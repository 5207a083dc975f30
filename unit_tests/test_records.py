"""RecordBatch (source_customerio/records.py): its RECORD lines are the CDK helper's for the same records."""

from __future__ import annotations

from collections import defaultdict

import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import AirbyteMessage, AirbyteStateMessage, AirbyteStreamState, StreamDescriptor, Type
from airbyte_cdk.sources.utils.record_helper import stream_data_to_airbyte_message

from source_customerio.cli import _Entrypoint
from source_customerio.records import RecordBatch, in_batches, render, render_json

RECORDS = [
    {"id": "a", "n": 1, "x": 1.5, "big": 2**62, "t": True, "none": None, "s": 'é ✓ \u2028 "q" \\ \n'},
    {"id": "b", "nested": {"inner": None, "list": [None, {"k": None}]}, "empty": {}, "list": []},
    {},
    {"only": None},
    {"id": 3, "deep": {"a": {"b": {"c": [1, 2.0, "3"]}}}},
]


def cdk_line(stream: str, record: dict) -> dict:
    return orjson.loads(
        AirbyteEntrypoint.airbyte_message_to_string(stream_data_to_airbyte_message(stream, record))
    )


def test_batch_lines_are_the_cdk_helpers_records_as_parsed_json():
    batch = RecordBatch("messages", [dict(r) for r in RECORDS])
    data = batch.lines()
    assert data.endswith(b"\n") and data.count(b"\n") == len(RECORDS)
    lines = [orjson.loads(line) for line in data.splitlines()]
    expected = [cdk_line("messages", dict(r)) for r in RECORDS]
    for line, want in zip(lines, expected, strict=True):
        assert abs(line["record"].pop("emitted_at") - want["record"].pop("emitted_at")) < 60_000
        assert line == want
    # Top-level nulls are left out, as the CDK's serializer does; nested ones stay.
    assert lines[0]["record"]["data"].get("none", "absent") == "absent"
    assert lines[1]["record"]["data"]["nested"] == {"inner": None, "list": [None, {"k": None}]}
    assert all(line.startswith(b'{"type":"RECORD"') for line in data.splitlines())


def test_an_empty_batch_writes_nothing():
    assert RecordBatch("messages", []).lines() == b""
    assert list(in_batches("messages", [], True)) == []


def test_records_are_batched_only_when_asked():
    records = [{"id": i} for i in range(2_500)]
    assert list(in_batches("s", records, False)) == records
    [page] = in_batches("s", records[:7], True)
    assert page.type == Type.RECORD and page.records == records[:7]


def test_the_states_record_count_counts_the_records_of_batches():
    counts: defaultdict = defaultdict(float)
    handle = _Entrypoint.handle_record_counts
    handle(RecordBatch("messages", [{"id": 1}, {"id": 2}, {"id": 3}]), counts)
    handle(stream_data_to_airbyte_message("messages", {"id": 4}), counts)
    state = AirbyteMessage(
        type=Type.STATE,
        state=AirbyteStateMessage(
            type="STREAM",
            stream=AirbyteStreamState(stream_descriptor=StreamDescriptor(name="messages"), stream_state=None),
        ),
    )
    out = handle(state, counts)
    assert out.state is not None and out.state.sourceStats is not None
    assert out.state.sourceStats.recordCount == 4.0


def test_lines_rendered_ahead_are_written_and_counted_as_they_are():
    records = [dict(r) for r in RECORDS]
    rendered = render("messages", records)
    batch = RecordBatch.of_lines("messages", rendered)
    assert batch.lines() == rendered and batch.count == len(RECORDS)
    assert [orjson.loads(line)["record"]["data"] for line in rendered.splitlines()] == [
        cdk_line("messages", dict(r))["record"]["data"] for r in RECORDS
    ]


def test_lines_around_json_texts_are_the_cdk_helpers_records():
    texts = [orjson.dumps({k: v for k, v in r.items() if v is not None}).decode() for r in RECORDS]
    rendered = render_json("customers", texts, emitted_at=1_700_000_000_123)
    assert rendered.count(b"\n") == len(RECORDS) and RecordBatch.of_lines("c", rendered).count == len(RECORDS)
    for line, record in zip(rendered.splitlines(), RECORDS, strict=True):
        want = cdk_line("customers", dict(record))
        want["record"]["emitted_at"] = 1_700_000_000_123
        assert orjson.loads(line) == want
    assert render_json("customers", []) == b""
