"""Rows for the commands Airbyte runs before and besides every sync: `spec` (imports only, no request) and
`check` (the region, the workspace, one probe per stream), each as users run it, in a subprocess."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from integration_tests.bench.processes import Process, SandboxProcess, measure
from integration_tests.bench.results import Row

SPEC_RUNS = 5
CHECK_RUNS = 3


def _median_run(command: list[str], runs: int, timeout: float, before: Callable[[], None]) -> Process:
    """The run with the median wall time of `runs` (start-up varies with the machine's load)."""
    done = []
    for _ in range(runs):
        before()
        done.append(measure(command, timeout))
    middle = statistics.median_low([d.wall for d in done])
    return next(d for d in done if d.wall == middle)


def spec_row(timeout: float) -> tuple[Row, Process]:
    done = _median_run([sys.executable, "-m", "source_customerio", "spec"], SPEC_RUNS, timeout, lambda: None)
    specs = [m for m in done.messages if m.get("type") == "SPEC"]
    row = Row(
        "spec",
        "start-up",
        f"connector `spec` (median of {SPEC_RUNS})",
        "—",
        wall=done.wall,
        cpu=done.cpu,
        rss_mb=done.peak_rss_mb,
        exit_code=done.exit_code or (0 if len(specs) == 1 else 1),
        errors=[] if len(specs) == 1 else [f"{len(specs)} SPEC messages"],
        stderr_tail=done.stderr_tail,
    )
    return row, done


def check_row(
    sandbox: SandboxProcess, config: dict[str, Any], key: str, scenario: str, timeout: float
) -> Row:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config))
        command = [sys.executable, "-m", "source_customerio", "check", "--config", str(path)]
        done = _median_run(command, CHECK_RUNS, timeout, sandbox.reset_stats)
    stats = sandbox.stats()
    statuses = [m["connectionStatus"] for m in done.messages if m.get("type") == "CONNECTION_STATUS"]
    succeeded = len(statuses) == 1 and statuses[0].get("status") == "SUCCEEDED"
    return Row(
        key,
        scenario,
        f"connector `check` (median of {CHECK_RUNS})",
        "—",
        wall=done.wall,
        requests=stats["total"],
        cpu=done.cpu,
        rss_mb=done.peak_rss_mb,
        served_429=stats["served_429"],
        ceiling=config["requests_per_second"] if scenario != "unthrottled" else None,
        exit_code=done.exit_code or (0 if succeeded else 1),
        errors=[] if succeeded else [str(statuses)],
        stderr_tail=done.stderr_tail,
    )
