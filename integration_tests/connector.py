"""Run the connector as users do (the `source-customerio` console script in a subprocess) and read
what it prints: the helpers the integration tests, the demo and the benchmark share."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration_tests.sandbox.subresources import PRIMARY_KEYS as SUB_PRIMARY_KEYS
from source_customerio.source import STREAM_ORDER

STREAMS = STREAM_ORDER
INCREMENTAL = {
    "broadcasts": "updated",
    "transactional_messages": "updated_at",
    "messages": "created",
    "campaigns": "updated",
    "newsletters": "updated",
    "segments": "updated_at",
    "exports": "updated_at",
    "snippets": "updated_at",
    "collections": "updated_at",
    "activities": "timestamp",
    # The tables under the tables (streams/children.py, streams/metrics.py).
    "campaign_actions": "updated",
    "broadcast_actions": "updated",
    "newsletter_variants": "updated",
    "transactional_contents": "updated",
    "campaign_metrics": "day_start",
    "campaign_action_metrics": "day_start",
    "broadcast_metrics": "day_start",
    "newsletter_metrics": "day_start",
}
PRIMARY_KEYS = {
    "customers": ["cio_id"],
    "snippets": ["name"],
    "eps_suppression": ["suppression_type", "email"],
    # The sub-resources' keys start with their parent's id.
    **SUB_PRIMARY_KEYS,
}
# Streams read per parent: their state is per parent, not one cursor.
FAN_OUT = tuple(SUB_PRIMARY_KEYS)
CONSOLE_SCRIPT = [sys.executable, "-m", "source_customerio"]


def primary_key(stream: str) -> list[str]:
    return PRIMARY_KEYS.get(stream, ["id"])


def key_of(stream: str, record: Mapping[str, Any]) -> str:
    return "|".join(str(record.get(field)) for field in primary_key(stream))


def catalog(
    streams: Iterable[str] = STREAMS,
    incremental: bool = False,
    schemas: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A configured catalog; `schemas` gives streams the json_schema a discover made (else `{}`)."""
    entries = []
    for name in streams:
        cursor = INCREMENTAL.get(name) if incremental else None
        entries.append(
            {
                "stream": {
                    "name": name,
                    "json_schema": dict((schemas or {}).get(name, {})),
                    "supported_sync_modes": ["full_refresh", "incremental"] if cursor else ["full_refresh"],
                    "source_defined_cursor": True,
                    "default_cursor_field": [cursor] if cursor else [],
                },
                "sync_mode": "incremental" if cursor else "full_refresh",
                "destination_sync_mode": "append_dedup" if cursor else "overwrite",
                "cursor_field": [cursor] if cursor else [],
                "primary_key": [[f] for f in primary_key(name)],
            }
        )
    return {"streams": entries}


@dataclass
class ConnectorRun:
    exit_code: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [m["record"] for m in self.of_type("RECORD")]

    def records_of(self, stream: str) -> list[dict[str, Any]]:
        return [r["data"] for r in self.records if r["stream"] == stream]

    def keys_of(self, stream: str) -> list[str]:
        return [key_of(stream, r) for r in self.records_of(stream)]

    def counts(self) -> Counter[str]:
        return Counter(r["stream"] for r in self.records)

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.of_type("STATE")]

    def final_states(self) -> list[dict[str, Any]]:
        """The last STATE of each stream, as a state file for the next run."""
        latest: dict[str, dict[str, Any]] = {}
        for state in self.states:
            latest[state["stream"]["stream_descriptor"]["name"]] = state
        return list(latest.values())

    def stream_state(self, stream: str) -> dict[str, Any] | None:
        for state in reversed(self.states):
            if state["stream"]["stream_descriptor"]["name"] == stream:
                return dict(state["stream"]["stream_state"])
        return None

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"].get("type") == "ERROR"]

    def schemas(self) -> dict[str, dict[str, Any]]:
        """Each stream's json_schema, from the CATALOG a discover printed."""
        [found] = [m["catalog"] for m in self.of_type("CATALOG")]
        return {stream["name"]: stream["json_schema"] for stream in found["streams"]}

    def logs(self, level: str | None = None) -> list[str]:
        return [
            m["log"]["message"] for m in self.of_type("LOG") if level is None or m["log"]["level"] == level
        ]


# Each Airbyte message type and the field that carries its payload.
PAYLOAD_FIELDS = {
    "RECORD": "record",
    "STATE": "state",
    "LOG": "log",
    "SPEC": "spec",
    "CONNECTION_STATUS": "connectionStatus",
    "CATALOG": "catalog",
    "TRACE": "trace",
    "CONTROL": "control",
}


class ProtocolViolationError(AssertionError):
    """A line on stdout that is not an Airbyte message: the platform cannot read such a stream."""


def protocol_message(line: str, debug: bool = False) -> dict[str, Any]:
    """One stdout line as an Airbyte message; anything else (a blank line, a print, a traceback, a
    message without its payload) is a ProtocolViolationError quoting the line.

    With `debug` (a run with `--debug`), the CDK's own `{"type": "DEBUG", ...}` lines pass too: its
    debug mode prints them on purpose, and the platform never runs a connector that way."""
    try:
        message = json.loads(line)
    except ValueError:
        message = None
    kind = message.get("type") if isinstance(message, dict) else None
    if debug and kind == "DEBUG" and isinstance(message.get("message"), str):
        return message
    if not isinstance(kind, str) or kind not in PAYLOAD_FIELDS:
        raise ProtocolViolationError(f"stdout carries a line that is not an Airbyte message: {line[:500]!r}")
    if not isinstance(message.get(PAYLOAD_FIELDS[kind]), dict):
        field = PAYLOAD_FIELDS[kind]
        raise ProtocolViolationError(f"a {kind} message without its {field!r} object: {line[:500]!r}")
    return message


def parse_messages(stdout: str, debug: bool = False) -> list[dict[str, Any]]:
    """Every line of stdout, each of which must be an Airbyte message (see protocol_message)."""
    return [protocol_message(line, debug) for line in stdout.splitlines()]


def write_inputs(
    folder: Path, config: Mapping[str, Any], catalog: Mapping[str, Any] | None, state: Any
) -> list[str]:
    args = ["--config", str(folder / "config.json")]
    (folder / "config.json").write_text(json.dumps(config))
    if catalog is not None:
        (folder / "catalog.json").write_text(json.dumps(catalog))
        args += ["--catalog", str(folder / "catalog.json")]
    if state is not None:
        (folder / "state.json").write_text(json.dumps(state))
        args += ["--state", str(folder / "state.json")]
    return args


def run_connector(
    command: str,
    config: Mapping[str, Any] | None = None,
    catalog: Mapping[str, Any] | None = None,
    state: Any = None,
    timeout: float = 600,
    kill_after_records: int | None = None,
) -> ConnectorRun:
    """`source-customerio <command>` as a subprocess; with `kill_after_records`, SIGKILL it once
    that many RECORD lines have been printed (an interrupted sync)."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [command] + (write_inputs(Path(tmp), config, catalog, state) if config is not None else [])
        env = dict(os.environ)
        if kill_after_records is None:
            done = subprocess.run(
                CONSOLE_SCRIPT + args, capture_output=True, text=True, timeout=timeout, env=env
            )
            return ConnectorRun(done.returncode, done.stdout, done.stderr, parse_messages(done.stdout))
        return _run_and_kill(args, env, kill_after_records, timeout)


def _run_and_kill(args: list[str], env: dict[str, str], after: int, timeout: float) -> ConnectorRun:
    process = subprocess.Popen(
        CONSOLE_SCRIPT + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    lines, records = [], 0
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if line.startswith('{"type":"RECORD"'):
            records += 1
            if records >= after:
                process.send_signal(signal.SIGKILL)
                break
    process.wait(timeout=timeout)
    stdout = "".join(lines)
    return ConnectorRun(process.returncode, stdout, "", parse_messages(stdout))
