"""The connector's own `read` writes RECORD lines in batches (source_customerio/records.py, cli.py): the
same messages as the CDK's entrypoint writes for the same source, record by record, as parsed JSON;
each STATE after the same records, with the same record count."""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint

from integration_tests.connector import catalog, run_connector, write_inputs
from integration_tests.sandbox import SANDBOX_API_KEY, Sandbox
from source_customerio import SourceCustomerio

TIMESTAMP = re.compile(rb"\b\d{10}\b")


def _now(found: re.Match[bytes]) -> bytes:
    return b'"now"' if abs(int(found.group()) - time.time()) < 3600 else found.group()


def cdk_read(config: dict[str, Any], configured: dict[str, Any], state: Any = None) -> list[dict[str, Any]]:
    """The CDK's own entrypoint over the same source: records one message each."""
    entrypoint = AirbyteEntrypoint(SourceCustomerio())
    with tempfile.TemporaryDirectory() as tmp:
        args = ["read", *write_inputs(Path(tmp), config, configured, state)]
        return [orjson.loads(line) for line in entrypoint.run(entrypoint.parse_args(args))]


def segments(messages: list[dict[str, Any]]) -> list[Any]:
    """Each non-record message (LOGs aside, times removed) after the records before it, as a sorted
    list: records within a segment may come in any order (windows read side by side)."""
    out: list[Any] = []
    records: list[bytes] = []
    for message in messages:
        kind = message["type"]
        if kind == "LOG":
            continue
        if kind == "RECORD":
            record = message["record"]
            assert set(record) == {"stream", "data", "emitted_at"}
            assert isinstance(record["emitted_at"], int)
            records.append(orjson.dumps([record["stream"], record["data"]], option=orjson.OPT_SORT_KEYS))
            continue
        if kind == "TRACE":
            message = {**message, "trace": {k: v for k, v in message["trace"].items() if k != "emitted_at"}}
        if kind == "STATE":
            # The last delivery window ends at the run's own "now": the two runs are seconds apart.
            message = orjson.loads(TIMESTAMP.sub(_now, orjson.dumps(message)))
        out.append(sorted(records))
        out.append(message)
        records = []
    out.append(sorted(records))
    return out


def test_batched_read_writes_what_the_cdk_writes_record_by_record():
    with Sandbox(seed=5, size="small", people=2_345, deliveries=2_500, requests_per_second=0) as sandbox:
        streams = ["messages", "customers", "campaigns"]
        for method in ("exports", "search"):
            config = {
                "access_token": SANDBOX_API_KEY,
                "base_url": sandbox.base_url,
                "requests_per_second": 100,
                "customers_method": method,
            }
            configured = catalog(streams, incremental=True)
            batched = run_connector("read", config, configured)
            assert batched.exit_code == 0, batched.stderr[-3000:]
            expected = cdk_read(config, configured)
            assert segments(batched.messages) == segments(expected)
            counts = batched.counts()
            assert counts["messages"] == len(sandbox.truth("messages")["keys"])
            assert counts["customers"] == len(sandbox.truth("customers")["keys"])
            states = [m for m in batched.messages if m["type"] == "STATE"]
            assert sum(s["state"]["sourceStats"]["recordCount"] for s in states) == sum(counts.values())
