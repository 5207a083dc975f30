"""The command lines of the readers: the connector (config and catalog in a temporary folder) and
the minimal reader, both pointed at a sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from integration_tests.bench.processes import API_KEY, SandboxProcess

DAY = 86_400


def catalog(stream: str, schemas: dict[str, Any] | None = None) -> dict[str, Any]:
    """One stream, or several joined by '+' (read in one sync); `schemas` as a discover gave them."""
    from integration_tests.connector import catalog as build

    return build(stream.split("+"), schemas=schemas)


@contextmanager
def connector_command(
    config: dict[str, Any], stream: str, prefix: Sequence[str] = (), schemas: dict[str, Any] | None = None
) -> Iterator[list[str]]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        folder = Path(tmp)
        (folder / "config.json").write_text(json.dumps(config))
        (folder / "catalog.json").write_text(json.dumps(catalog(stream, schemas)))
        yield [
            *prefix,
            sys.executable,
            "-m",
            "source_customerio",
            "read",
            "--config",
            str(folder / "config.json"),
            "--catalog",
            str(folder / "catalog.json"),
        ]


def minimal_command(base_url: str, start_ts: int, json_kind: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "integration_tests.minimal_reader",
        "--base-url",
        base_url,
        "--api-key",
        API_KEY,
        "--start-ts",
        str(start_ts),
        "--json",
        json_kind,
    ]


def connector_config(sandbox: SandboxProcess, rps: float, start_ts: int, **extra: Any) -> dict[str, Any]:
    start = datetime.fromtimestamp(start_ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "access_token": API_KEY,
        "base_url": sandbox.base_url,
        "requests_per_second": rps,
        "start_date": start,
        **extra,
    }


def deliveries_start() -> int:
    """A day boundary before the sandbox's earliest delivery (history: 730 days before now)."""
    now = int(time.time())
    return (now - 731 * DAY) // DAY * DAY


def discovered_schemas(config: dict[str, Any]) -> dict[str, Any]:
    """Each stream's json_schema from the connector's `discover` (typed attribute columns included)."""
    from integration_tests.connector import parse_messages

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config))
        done = subprocess.run(
            [sys.executable, "-m", "source_customerio", "discover", "--config", str(path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
    [catalog] = [m["catalog"] for m in parse_messages(done.stdout) if m["type"] == "CATALOG"]
    return {stream["name"]: stream["json_schema"] for stream in catalog["streams"]}
