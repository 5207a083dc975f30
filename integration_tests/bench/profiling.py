"""`--profile`: the unthrottled `messages` read once more under py-spy, and where its CPU goes."""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from integration_tests.bench.processes import ROOT, SandboxProcess, measure
from integration_tests.bench.render import RESULTS, format_number
from integration_tests.bench.results import Row

# (category, frame patterns): a sample belongs to the first category one of its frames matches,
# walking from the innermost frame outwards; start-up imports are recognised first.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("decode page JSON (orjson.loads, error table)", ("_decode_payload",)),
    (
        "render and write RECORD lines in batches",
        (
            "render (source_customerio/records.py",
            "render_json (source_customerio/records.py",
            "without_nulls",
            "RecordBatch.",
            "_write_lines",
        ),
    ),
    ("normalize records to the schema", ("RecordNormalizer",)),
    ("serialize AirbyteMessage (serpyco dump + orjson.dumps)", ("airbyte_message_to_string", "serpyco_rs")),
    ("wrap record in AirbyteMessage (dict copy, transformer)", ("stream_data_to_airbyte_message",)),
    ("write stdout (print, PrintBuffer)", ("PrintBuffer", "launch (airbyte_cdk/entrypoint.py")),
    ("count records per stream (entrypoint)", ("handle_record_counts",)),
    ("HTTP: requests, urllib3, sockets", ("urllib3/", "requests/", "http/client", "socket.py", "HttpClient")),
    ("request budget", ("budget.py",)),
    ("prefetch threads and queues", ("prefetch.py", "queue.py", "concurrent/futures")),
    ("connector read loop (read_stream)", ("read_stream (", "read_records (")),
    ("CDK read loop (Stream.read, AbstractSource)", ("Stream.read", "AbstractSource", "entrypoint.py")),
)
STARTUP_FRAMES = ("_find_and_load", "_get_module_details")


def categorize(folded: str) -> tuple[collections.Counter[str], collections.Counter[str], int]:
    """py-spy raw (folded) stacks: samples by category, by innermost function, and the total."""
    by_category: collections.Counter[str] = collections.Counter()
    by_function: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [f for f in stack.split(";") if not f.startswith(("thread (", "process "))]
        if any(marker in f for f in frames for marker in STARTUP_FRAMES):
            by_category["start-up: imports"] += samples
            continue
        if frames:
            by_function[re.sub(r":\d+\)$", ")", frames[-1])] += samples
        for frame in reversed(frames):
            category = next((name for name, marks in CATEGORIES if any(m in frame for m in marks)), None)
            if category is not None:
                by_category[category] += samples
                break
        else:
            by_category["other"] += samples
    return by_category, by_function, total


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def run_profile(sandbox: SandboxProcess, command: Sequence[str], measured: Row | None, timeout: float) -> str:
    """The connector's read once more, with py-spy attached, and where its CPU goes.

    py-spy attaches to the running reader (`--pid`) rather than launching it: launched under py-spy,
    the reader's stdout pipe loses lines. It samples the thread holding the GIL (`--gil`), without
    pausing the process (`--nonblocking`). Shares come from the samples; µs/record = share x the CPU
    per record measured without the profiler.
    """
    spy = py_spy()
    if spy is None:
        return "Profile: py-spy is not installed (`.venv/bin/pip install py-spy`); skipped."
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    folded_path = RESULTS.parent / "profile-messages.folded"
    folded_path.unlink(missing_ok=True)
    rate = 100
    options = ["--gil", "--nonblocking", "--rate", str(rate), "--format", "raw", "-o", str(folded_path)]
    with tempfile.TemporaryFile() as spy_log:

        def attach(pid: int) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [spy, "record", "--pid", str(pid), *options], stdout=spy_log, stderr=spy_log
            )

        done = measure(command, timeout, attach)
        spy_log.seek(0)
        spy_output = spy_log.read().decode(errors="replace")[-500:]
    if not folded_path.exists():
        return f"Profile: py-spy wrote no samples (reader exit {done.exit_code}): {spy_output}"
    by_category, by_function, total = categorize(folded_path.read_text())
    if not total:
        return "Profile: no samples."
    per_record = measured.cpu_us_per_record if measured is not None else None
    lines = [
        f"Profile of the unthrottled `messages` read by the connector ({done.records:,} records; py-spy "
        f"--gil --nonblocking at {rate} Hz, {total:,} samples = {total / rate:.1f} s with the GIL held, "
        f"{done.cpu:.1f} s CPU; folded stacks in {folded_path.relative_to(ROOT)}). µs/record = share x "
        f"{format_number(per_record, 1)} µs, the CPU per record measured without the profiler:",
        "",
        "| where the GIL-holding time goes | share | ≈ µs/record |",
        "|---|---:|---:|",
    ]
    for name, samples in by_category.most_common():
        share = samples / total
        cost = format_number(share * per_record, 1) if per_record is not None else "—"
        lines.append(f"| {name} | {100 * share:.1f}% | {cost} |")
    lines += ["", "Innermost functions (self time; start-up excluded):", ""]
    lines += [f"- {100 * n / total:.1f}% {name}" for name, n in by_function.most_common(15)]
    if measured is not None and (done.records != measured.expected or done.exit_code):
        lines.append(
            f"(the profiled read returned {done.records:,} of {measured.expected:,} records, "
            f"exit code {done.exit_code})"
        )
    return "\n".join(lines)
