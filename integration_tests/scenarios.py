"""Shared pieces of the robustness scenarios (faults, interrupts, bad input, permissions, secrets).

Every scenario runs the console script in a subprocess against a tiny sandbox whose API key is the
distinctive `SECRET_KEY`, and hands its complete output (stdout and stderr, killed runs included) to
`assert_clean`: the key never appears, and no Python traceback reaches stdout.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader

from integration_tests.connector import (
    CONSOLE_SCRIPT,
    ConnectorRun,
    catalog,
    parse_messages,
    primary_key,
    write_inputs,
)
from integration_tests.destination import DELETED_AT
from integration_tests.sandbox import Sandbox
from source_customerio.streams.catalog import TABLES
from source_customerio.streams.deletions import decode_keys

DELETION_STREAMS = {table.name for table in TABLES if table.deletions}

SECRET_KEY = f"sk-SECRET-{secrets.token_hex(12)}"
TRACEBACK = "Traceback (most recent call last)"
# The retry waits shrunk to ~1 s each (the CDK's added second), for scenarios that exhaust retries.
FAST_BACKOFF = {"SOURCE_CUSTOMERIO_BACKOFF_SCALE": "0.01"}


def new_sandbox(**kwargs: Any) -> Sandbox:
    """Keyword arguments for Sandbox(...) with this module's defaults (tiny, SECRET_KEY, no limit)."""
    options = {"seed": 11, "size": "tiny", "api_key": SECRET_KEY, "requests_per_second": 0, **kwargs}
    return Sandbox(**options)


def config_for(sandbox: Sandbox, **extra: Any) -> dict[str, Any]:
    return {"access_token": SECRET_KEY, "base_url": sandbox.base_url, "requests_per_second": 100, **extra}


def start_date_days_ago(days: float) -> str:
    """A `start_date` this many days back (the tiny sandbox's deliveries span the last 730 days)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - days * 86_400))


def stream_state(name: str, value: Any) -> list[dict[str, Any]]:
    return [{"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": value}}]


# -- running the connector ----------------------------------------------------------------------------


def run(
    command: str,
    config: Mapping[str, Any] | None = None,
    catalog: Mapping[str, Any] | None = None,
    state: Any = None,
    *,
    kill_after_records: int | None = None,
    extra_args: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 240,
) -> ConnectorRun:
    """`source-customerio <command>` in a subprocess, stdout and stderr both kept (also when killed).

    With `kill_after_records`, the process gets SIGKILL once that many RECORD lines were read."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        args = [command, *(write_inputs(folder, config, catalog, state) if config is not None else [])]
        args += list(extra_args)
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        with open(folder / "stderr.txt", "w+") as stderr:
            process = subprocess.Popen(
                CONSOLE_SCRIPT + args, stdout=subprocess.PIPE, stderr=stderr, text=True, env=environment
            )
            hung = threading.Event()
            watchdog = threading.Timer(timeout, lambda: (hung.set(), process.kill()))
            watchdog.start()
            try:
                lines = _read_stdout(process, kill_after_records)
                process.wait()
            finally:
                watchdog.cancel()
            stderr.seek(0)
            stderr_text = stderr.read()
    stdout = "".join(lines)
    assert not hung.is_set(), f"the connector hung: still running after {timeout} s; last lines {lines[-3:]}"
    messages = parse_messages(stdout, debug="--debug" in args)
    return ConnectorRun(process.returncode, stdout, stderr_text, messages)


def _read_stdout(process: subprocess.Popen[str], kill_after: int | None) -> list[str]:
    lines: list[str] = []
    records = 0
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if kill_after is not None and line.startswith('{"type":"RECORD"'):
            records += 1
            if records >= kill_after:
                process.send_signal(signal.SIGKILL)
                break
    process.stdout.close()
    return lines


def run_all(calls: Mapping[Any, Callable[[], Any]], workers: int | None = None) -> dict[Any, Any]:
    """Independent scenarios side by side: a connector run is mostly interpreter start-up and
    retry waits, so a module's scenarios take about as long as its slowest one."""
    with ThreadPoolExecutor(max_workers=workers or len(calls) or 1) as pool:
        futures = {name: pool.submit(call) for name, call in calls.items()}
        return {name: future.result() for name, future in futures.items()}


# -- what every scenario must show -------------------------------------------------------------------


def output_of(result: ConnectorRun) -> str:
    return result.stdout + result.stderr


def assert_clean(result: ConnectorRun, *also_secret: str) -> None:
    """The key (and any other secret given) appears nowhere; stdout carries no traceback."""
    everything = output_of(result)
    for secret in (SECRET_KEY, *also_secret):
        assert secret not in everything, f"a secret ({secret[:12]}…) leaked into the output"
    assert TRACEBACK not in result.stdout, _around(result.stdout, TRACEBACK)


def _around(text: str, needle: str, width: int = 600) -> str:
    at = text.find(needle)
    return text[max(0, at - width) : at + width]


def assert_complete(sandbox: Sandbox, result: ConnectorRun, stream: str) -> None:
    """Exactly the ground truth: nothing missing, nothing extra, no primary key twice."""
    keys = result.keys_of(stream)
    repeated = [key for key, times in Counter(keys).items() if times > 1]
    assert repeated == [], f"{stream}: duplicate primary keys {repeated[:5]}"
    truth = set(sandbox.truth(stream)["keys"])
    got = set(keys)
    assert got == truth, f"{stream}: missing {sorted(truth - got)[:5]}, unexpected {sorted(got - truth)[:5]}"


def assert_valid_records(result: ConnectorRun, stream: str) -> None:
    validator = jsonschema.Draft7Validator(ResourceSchemaLoader("source_customerio").get_schema(stream))
    for record in result.records_of(stream):
        problems = [
            f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(record)
        ]
        assert problems == [], (stream, problems, record)


def typed_columns(record: Mapping[str, Any]) -> dict[str, Any]:
    """A customers record's typed attribute columns as emitted (Airbyte's serializer leaves nulls out)."""
    return {k: v for k, v in record.items() if k.startswith("attr_") and v is not None}


def coerced_by_hand(kind: str, text: str) -> Any:
    """A raw attribute value as a typed column of `kind` must hold it; None when empty or unfit."""
    if not text:
        return None
    if kind == "integer":
        whole = text.lstrip("-")
        return int(text) if whole.isascii() and whole.isdigit() and abs(int(text)) < 2**63 else None
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            return None
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower())
    return text


def warnings(result: ConnectorRun) -> list[str]:
    return result.logs("WARN")


def reread(first: ConnectorRun, second: ConnectorRun, stream: str) -> set[str]:
    """Keys the second run delivered again after the first one had delivered them."""
    return set(first.keys_of(stream)) & set(second.keys_of(stream))


def truth_cursors(sandbox: Sandbox, stream: str) -> dict[str, Any]:
    """Each record's primary key and cursor value, as the sandbox holds them now (mutations included)."""
    world = sandbox.world
    if stream == "messages":
        deliveries = world.deliveries
        return {deliveries.key(i): deliveries.created(i) for i in range(deliveries.count)}
    table = world.tables[stream]
    assert table.cursor_field, f"{stream} has no cursor"
    return {table.key(record): record.get(table.cursor_field) for record in table.records()}


def complete_read_state(
    sandbox: Sandbox, stream: str, state: Mapping[str, Any] | None, earlier: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A list's state after a complete incremental read, checked against the truth: its cursor is the
    list's largest (or the `earlier` state's, which a deletion cannot take back), and the keys it saves
    (streams that track deletions) are the list's keys. Returns the state without those keys."""
    assert state is not None, f"{stream}: no state"
    state = dict(state)
    listed = decode_keys(state.pop("keys")) if "keys" in state else None
    if stream in DELETION_STREAMS:
        assert listed is not None, f"{stream}: the keys of the read are not in the state {state}"
        assert {"|".join(map(str, key)) for key in listed} == set(sandbox.truth(stream)["keys"]), stream
    else:
        assert listed is None, f"{stream} keeps keys it has no use for"
    truth = sandbox.truth(stream, keys=False)
    field, cursor = truth["cursor_field"], truth["max_cursor"]
    if earlier is not None:
        cursor = max(cursor, earlier[field])
    assert state == {field: cursor}, (stream, state)
    return state


def keys_from(cursors: Mapping[str, Any], floor: int) -> set[str]:
    """The keys a read filtering at `floor` must return: cursor at or after it, or no usable cursor."""
    return {key for key, value in cursors.items() if not isinstance(value, int) or value >= floor}


# -- deletions ---------------------------------------------------------------------------------------


# Every record of every read is emitted again (the tiny sandbox's history is two years long), so that a
# kill can land in the middle of a list and the destination sees each record in each sync.
EVERYTHING = {"lookback_window_minutes": 4_000_000}


def sync(sandbox: Sandbox, streams: list[str], state: Any = None, incremental: bool = True, **config: Any):
    """A read of `streams` (incremental unless told) from `state`, with `config` on top of the defaults."""
    return run("read", config_for(sandbox, **config), catalog(streams, incremental=incremental), state=state)


def ok(result: ConnectorRun) -> ConnectorRun:
    """The run, checked to have ended well (no error, nothing leaked)."""
    assert result.exit_code == 0 and result.errors == [], result.stdout[-3000:]
    assert_clean(result)
    return result


def tombstones(result: ConnectorRun, stream: str) -> list[dict[str, Any]]:
    return [r for r in result.records_of(stream) if r.get(DELETED_AT) is not None]


def tombstone_keys(result: ConnectorRun, stream: str) -> set[str]:
    return {"|".join(str(r[f]) for f in primary_key(stream)) for r in tombstones(result, stream)}


def forbidden_then_allowed(
    sandbox: Sandbox, streams: list[str], path: str, count: int = 1
) -> SimpleNamespace:
    """A first sync; `count` records of each stream deleted; a sync with `path` refused (403), then one
    with nothing refused, each from the state before it."""
    first = ok(sync(sandbox, streams))
    deleted = {s: set(sandbox.mutate(s, "delete", count)["keys"]) for s in streams}
    sandbox.configure(forbidden_paths=[path])
    skipped = ok(sync(sandbox, streams, first.final_states()))
    sandbox.configure(forbidden_paths=[])
    allowed = ok(sync(sandbox, streams, skipped.final_states()))
    return SimpleNamespace(**locals())


def assert_refused_then_told(outcome: SimpleNamespace, refused: str, other: str) -> None:
    """Of `forbidden_then_allowed`: the refused stream was skipped, emitting nothing and keeping its state,
    while the other told its deletions; once allowed, the refused one told its own, the other nothing more."""
    skipped, allowed = outcome.skipped, outcome.allowed
    assert any(f"'{refused}' skipped" in w for w in warnings(skipped))
    assert skipped.records_of(refused) == []
    assert skipped.stream_state(refused) == outcome.first.stream_state(refused)
    assert tombstone_keys(skipped, other) == outcome.deleted[other], "the others go on"
    assert tombstone_keys(allowed, refused) == outcome.deleted[refused]
    assert tombstones(allowed, other) == []


def assert_told_only_by_default(outcome: SimpleNamespace, run_name: str) -> None:
    """Of `switched_off`: the run `run_name` emitted no tombstone; the default one told every deletion."""
    for stream in outcome.streams:
        assert tombstones(getattr(outcome, run_name), stream) == [], stream
        assert outcome.deleted[stream] and tombstone_keys(outcome.default, stream) == outcome.deleted[stream]


def switched_off(
    sandbox: Sandbox, streams: list[str], without_keys: Callable[[dict[str, Any]], dict[str, Any]]
) -> SimpleNamespace:
    """After the same first sync and deletions (one record of each stream), side by side: emit_deletions
    off, full refresh, the state as saved before keys were kept (`without_keys` of each STATE message), and
    (proof that there was something to see) the default."""
    first = ok(sync(sandbox, streams))
    deleted = {s: set(sandbox.mutate(s, "delete", 1)["keys"]) for s in streams}
    states = first.final_states()
    calls = {
        "off": lambda: ok(sync(sandbox, streams, states, emit_deletions=False)),
        "full_refresh": lambda: ok(sync(sandbox, streams, states, incremental=False)),
        "old_state": lambda: ok(sync(sandbox, streams, [without_keys(m) for m in states])),
        "default": lambda: ok(sync(sandbox, streams, states)),
    }
    return SimpleNamespace(sandbox=sandbox, streams=streams, first=first, deleted=deleted, **run_all(calls))


# -- sandbox instrumentation -------------------------------------------------------------------------


class DownloadTokens:
    """Every signed download token the sandbox hands out (wraps its signer in this process)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.issued: list[str] = []
        exports = sandbox.world.exports
        sign = exports.token

        def token(index: int, now: int) -> str:
            value = sign(index, now)
            self.issued.append(value)
            return value

        exports.token = token  # type: ignore[method-assign]


class RequestLog:
    """The path and query string of every request the sandbox receives."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.targets: list[str] = []
        app = sandbox.app
        handle = app.handle

        def logged(req: Any) -> Any:
            self.targets.append(f"{req.path}?{req.query}")
            return handle(req)

        app.handle = logged  # type: ignore[method-assign]
