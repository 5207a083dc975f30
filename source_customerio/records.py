"""RECORD messages in batches: the per-record path of a `read` at Python's limit.

The CDK turns each record into an `AirbyteMessage` (a dict copy, a dataclass, a serpyco dump, orjson,
a print through its 0.1 s print buffer) and passes it through five generators: about 15 µs a record,
more than reading it. A stream with many records yields a `RecordBatch` instead (a page of records,
one message object), and the connector's own entrypoint (cli.py) writes its RECORD lines with one
orjson call per record into the buffered stdout, after flushing whatever was printed before it: the
lines are the CDK's, as parsed JSON (unit_tests/test_records.py compares), and each STATE still
follows the records it covers, since the CDK's read loop emits it after the batch, as it would after
the records one by one.

Only that entrypoint asks for batches (`StreamContext.batch_records`); whoever else drives the source
(the CDK's standard tests, PyAirbyte, the CDK's own entrypoint) gets records one by one, as before.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import orjson
from airbyte_cdk.models import AirbyteMessage, AirbyteRecordMessage, Type

# Rows of a customer export file per batch: a page of the API is up to 1,000 records too.
BATCH_ROWS = 1000


class RecordBatch(AirbyteMessage):
    """Records of one stream, passed through the CDK's read loop as one RECORD message.

    The CDK's loop sees a RECORD message (the stream turns RUNNING before it; state follows it); only
    cli.py's entrypoint, which asked for it, writes it, as `lines()`, and counts `count` records of it
    in the next STATE's record count. It holds the records, or their lines already rendered (by a
    worker thread, see `render`).
    """

    def __init__(
        self,
        stream: str,
        records: list[dict[str, Any]],
        rendered: bytes | None = None,
        lines: int | None = None,
    ) -> None:
        emitted_at = time.time_ns() // 1_000_000
        super().__init__(
            type=Type.RECORD, record=AirbyteRecordMessage(stream=stream, data={}, emitted_at=emitted_at)
        )
        self.records = records
        self.rendered = rendered
        self._lines = lines

    @classmethod
    def of_lines(cls, stream: str, rendered: bytes, lines: int | None = None) -> RecordBatch:
        """A batch of rendered RECORD lines; `lines`, their number, when the caller knows it."""
        return cls(stream, [], rendered, lines)

    @property
    def count(self) -> int:
        if self._lines is not None:
            return self._lines
        # orjson escapes line breaks inside strings: each line ends with the only newline it has.
        return self.rendered.count(b"\n") if self.rendered is not None else len(self.records)

    def lines(self) -> bytes:
        """The RECORD lines of the records, each ended by a newline."""
        if self.rendered is not None:
            return self.rendered
        record = self.record
        assert record is not None
        return render(record.stream, self.records, record.emitted_at)


def render(stream: str, records: list[dict[str, Any]], emitted_at: int | None = None) -> bytes:
    """RECORD lines, as the CDK writes them (emitted now, unless `emitted_at` says when)."""
    if not records:
        return b""
    if emitted_at is None:
        emitted_at = time.time_ns() // 1_000_000
    head = b'{"type":"RECORD","record":{"stream":' + orjson.dumps(stream) + b',"data":'
    tail = b',"emitted_at":' + str(emitted_at).encode() + b"}}\n"
    return head + (tail + head).join(map(orjson.dumps, map(without_nulls, records))) + tail


def render_json(stream: str, texts: list[str], emitted_at: int | None = None) -> bytes:
    """RECORD lines around records already written as JSON text, without their top-level nulls
    (export_rows.py); each text must hold no line break, as orjson's text never does."""
    if not texts:
        return b""
    if emitted_at is None:
        emitted_at = time.time_ns() // 1_000_000
    head = b'{"type":"RECORD","record":{"stream":' + orjson.dumps(stream) + b',"data":'
    tail = f',"emitted_at":{emitted_at}}}}}\n'.encode()
    # Each text encoded on its own: an ASCII text is one copy, where a batch joined as text and then
    # encoded goes character by character as soon as one of its texts is not ASCII.
    return head + (tail + head).join(map(str.encode, texts)) + tail


def without_nulls(record: dict[str, Any]) -> dict[str, Any]:
    # The CDK's serializer (serpyco, omit_none) leaves out the record's top-level null fields, and
    # only those: nested nulls stay.
    if None not in record.values():
        return record
    return {key: value for key, value in record.items() if value is not None}


def in_batches(stream: str, records: list[dict[str, Any]], batched: bool) -> Iterable[Any]:
    """A page of records as the stream yields it: one RecordBatch when the entrypoint asked for batches
    (none for an empty page), else the records one by one."""
    if not batched:
        return records
    return (RecordBatch(stream, records),) if records else ()
