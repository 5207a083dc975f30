"""The benchmark: `python -m integration_tests.bench [--smoke] [--profile]` (`make bench`, `bench-smoke`).

Prints the machine, then ONE table, and writes the same as markdown to `bench-results/latest.md`.

Scenarios, all measured in one run (sizes are flags; `--smoke` makes them tiny, for CI):

1. Unthrottled: the sandbox admits everything with no added latency; the connector runs with
   `requests_per_second: 100` (the most the config allows).
   - `messages`, N deliveries (`--deliveries`, default 1,000,000), by the connector and by the minimal
     reader (`integration_tests/minimal_reader.py`: a plain `requests` loop over the same 180-day
     windows, `limit=1000`, printing RECORD lines), with the standard library's json and with orjson.
     "vs minimal" = connector records/s / minimal (stdlib json) records/s.
   - `customers` through a customer export (`customers_method: exports`), `--people` (1,000,000).
2. At the ceiling: the sandbox admits 10 requests in any sliding second and answers after 150 ms;
   the connector runs with `requests_per_second: 10`.
   - `customers` by search and hydrate (`--throttled-people`, 20,000: 20 search + 200 hydrate requests),
     then by export on the same people;
   - `messages` (`--throttled-deliveries`, 100,000), and the minimal reader on them for reference;
   - `customers` by export on the `--people` of scenario 1;
   - `customers` by search on `--people` is COMPUTED, not measured (a million people by search is
     11,000 requests, ~19 minutes at 10 req/s): the measured search's request rate and fixed costs,
     applied to the number of requests the connector's paging makes for that many people.

How things are measured:
- Every reader runs as users run it: `python -m source_customerio read ...` in a subprocess (with
  PYTHONUNBUFFERED=1, as in the image), stdout through a pipe that is drained here in 1 MiB reads
  (RECORD lines counted, other messages kept), stderr to a file.
- Wall seconds: from spawn to exit. CPU seconds: user + sys of the reader process and all its threads,
  from the kernel's accounting at exit (wait4 rusage). Peak RSS: the reader's VmHWM (kernel high-water
  mark of resident memory), read from /proc every 50 ms; wait4's ru_maxrss is kept as a cross-check.
- The sandbox runs in its own process (this module with --serve-sandbox), so its CPU is never counted as
  the reader's; its CPU seconds per scenario are shown apart ("sandbox CPU s"). The machine has few
  cores: the sandbox competes with the reader for them, as the Customer.io API would not.
- Requests, 429s: from the sandbox's own statistics, reset before each scenario. Requests/s: API
  requests admitted, over the span from the first to the last admission (the reader's start-up and
  the export download are not part of it); "% of ceiling" divides by the sandbox's limit.
- Records are checked against the sandbox's ground truth; a short read is flagged in the table.

`--profile` also runs the unthrottled `messages` read under py-spy (`pip install py-spy`), sampling the
thread that holds the GIL, and prints where the connector's CPU per record goes.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench-results" / "latest.md"
API_KEY = "bench-key"
DAY = 86_400
RECORD_PREFIX = b'{"type":"RECORD"'
POLL_SECONDS = 0.05
READ_CHUNK = 1 << 20
# The connector's paging of a people search: 1,000 identifiers a search page, 100 people a hydration.
SEARCH_PAGE = 1000
HYDRATE_BATCH = 100
TARGETS = {
    "ratio": 0.80,
    "exports_seconds": 180.0,
    "rss_mb": 250.0,
    "rps": 9.5,
    "speedup": 6.0,
}


@dataclass(frozen=True)
class Sizes:
    deliveries: int = 1_000_000
    people: int = 1_000_000
    throttled_people: int = 20_000
    throttled_deliveries: int = 100_000
    ceiling_rps: float = 10.0
    ceiling_latency_ms: float = 150.0
    unthrottled_connector_rps: float = 100.0
    timeout_seconds: float = 1800.0


SMOKE = Sizes(deliveries=5_000, people=5_000, throttled_people=1_000, throttled_deliveries=3_000)


# -- the sandbox, in a process of its own ---------------------------------------------------------------


def serve_sandbox(spec: dict[str, Any]) -> None:
    """Child side of SandboxProcess: a Sandbox whose stats also say when API requests were admitted.

    Runs until stdin closes (the benchmark ended or died), then stops.
    """
    from integration_tests.sandbox import Sandbox

    sandbox = Sandbox(**spec, port=0)
    app = sandbox.app
    lock = threading.Lock()
    admitted: dict[str, Any] = {"count": 0, "first": None, "last": None}
    admit, snapshot, reset = app.limiter.admit, app.stats_snapshot, app.reset_stats

    def timed_admit(key: str, now: float | None = None) -> bool:
        ok = admit(key, now)
        if ok:
            at = time.monotonic()
            with lock:
                admitted["count"] += 1
                admitted["first"] = admitted["first"] or at
                admitted["last"] = at
        return ok

    def timed_snapshot() -> dict[str, Any]:
        with lock:
            return {**snapshot(), "admitted": dict(admitted)}

    def timed_reset() -> None:
        reset()
        with lock:
            admitted.update(count=0, first=None, last=None)

    app.limiter.admit = timed_admit  # type: ignore[method-assign]
    app.stats_snapshot = timed_snapshot  # type: ignore[method-assign]
    app.reset_stats = timed_reset  # type: ignore[method-assign]
    sandbox.start()
    print(json.dumps({"base_url": sandbox.base_url, "url": sandbox.url}), flush=True)
    try:
        sys.stdin.read()
    finally:
        sandbox.stop()


class SandboxProcess:
    def __init__(self, **spec: Any) -> None:
        self.spec = {"seed": 1, "size": "small", "api_key": API_KEY, **spec}
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.url = ""

    def __enter__(self) -> SandboxProcess:
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "integration_tests.bench", "--serve-sandbox", json.dumps(self.spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=ROOT,
            env=child_env(),
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self._stderr.seek(0)
            raise RuntimeError(f"the sandbox did not start: {self._stderr.read().decode()[-2000:]}")
        info = json.loads(line)
        self.base_url, self.url = info["base_url"], info["url"]
        return self

    def __exit__(self, *exc: object) -> None:
        process = self.process
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._stderr.close()

    def _admin(self, method: str, route: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/_admin/{route}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return dict(self._admin("GET", "stats"))

    def reset_stats(self) -> None:
        self._admin("POST", "reset_stats", {})

    def configure(self, **knobs: Any) -> None:
        self._admin("POST", "config", knobs)

    def count(self, stream: str) -> int:
        return int(self._admin("GET", f"truth/{stream}?keys=false")["count"])

    def cpu_seconds(self) -> float:
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }


# -- one reader process, measured ---------------------------------------------------------------------


@dataclass
class Process:
    exit_code: int
    records: int
    wall: float
    cpu_user: float
    cpu_sys: float
    peak_rss_mb: float
    ru_maxrss_mb: float
    first_record_seconds: float | None
    messages: list[dict[str, Any]]
    stderr_tail: str

    @property
    def cpu(self) -> float:
        return self.cpu_user + self.cpu_sys

    def errors(self) -> list[str]:
        out = []
        for message in self.messages:
            trace = message.get("trace") or {}
            if message.get("type") == "TRACE" and trace.get("type") == "ERROR":
                out.append(str(trace.get("error", {}).get("message")))
        return out


def _memory_kb(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) in kB; (0, 0) once the process is gone."""
    hwm = rss = 0
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return hwm, rss


def measure(
    command: Sequence[str], timeout: float, attach: Callable[[int], subprocess.Popen[bytes]] | None = None
) -> Process:
    """Run `command`, drain its stdout, and account for its wall time, CPU and memory.

    `attach(pid)` starts a companion process (a profiler attached to the pid), awaited at the end.
    """
    with tempfile.TemporaryFile() as stderr:
        return _measure(command, timeout, stderr, attach)


def _measure(
    command: Sequence[str],
    timeout: float,
    stderr: Any,
    attach: Callable[[int], subprocess.Popen[bytes]] | None,
) -> Process:
    started = time.monotonic()
    process = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, stderr=stderr, cwd=ROOT, env=child_env(), bufsize=0
    )
    companion = attach(process.pid) if attach is not None else None
    peak_kb = [0]
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            hwm, rss = _memory_kb(process.pid)
            peak_kb[0] = max(peak_kb[0], hwm, rss)
            if time.monotonic() - started > timeout:
                process.kill()
            stop.wait(POLL_SECONDS)

    poller = threading.Thread(target=poll, name="rss-poller", daemon=True)
    poller.start()
    records, first_record, carry = 0, None, b""
    # Logs are kept to the last few hundred; traces (errors, stream statuses) and states all.
    others: collections.deque[dict[str, Any]] = collections.deque(maxlen=400)
    kept: list[dict[str, Any]] = []
    assert process.stdout is not None
    fd = process.stdout.fileno()
    while True:
        chunk = os.read(fd, READ_CHUNK)
        if not chunk:
            break
        data = carry + chunk
        end = data.rfind(b"\n") + 1
        lines, carry = data[:end], data[end:]
        found = lines.count(RECORD_PREFIX)
        if found and first_record is None:
            first_record = time.monotonic() - started
        records += found
        if lines.count(b"\n") != found:
            for line in lines.split(b"\n"):
                if line.startswith(b"{") and not line.startswith(RECORD_PREFIX):
                    try:
                        message = json.loads(line)
                    except ValueError:
                        continue
                    (others if message.get("type") == "LOG" else kept).append(message)
    stop.set()
    poller.join()
    # Reaped here rather than by Popen, to get the child's own rusage.
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    if companion is not None:
        try:
            companion.wait(timeout=60)
        except subprocess.TimeoutExpired:
            companion.kill()
            companion.wait()
    process.stdout.close()
    stderr.seek(0)
    tail = stderr.read()[-4000:].decode(errors="replace")
    return Process(
        exit_code=process.returncode,
        records=records,
        wall=wall,
        cpu_user=usage.ru_utime,
        cpu_sys=usage.ru_stime,
        peak_rss_mb=peak_kb[0] / 1024,
        ru_maxrss_mb=usage.ru_maxrss / 1024,
        first_record_seconds=first_record,
        messages=kept + list(others),
        stderr_tail=tail,
    )


# -- commands -------------------------------------------------------------------------------------------


def catalog(stream: str) -> dict[str, Any]:
    from integration_tests.connector import catalog as build

    return build([stream])


@contextmanager
def connector_command(config: dict[str, Any], stream: str, prefix: Sequence[str] = ()) -> Iterator[list[str]]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        folder = Path(tmp)
        (folder / "config.json").write_text(json.dumps(config))
        (folder / "catalog.json").write_text(json.dumps(catalog(stream)))
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


# -- results --------------------------------------------------------------------------------------------


@dataclass
class Row:
    key: str
    scenario: str
    reader: str
    stream: str
    records: float | None = None
    expected: int | None = None
    wall: float | None = None
    requests: float | None = None
    rps: float | None = None
    ceiling: float | None = None
    cpu: float | None = None
    rss_mb: float | None = None
    served_429: int | None = None
    server_cpu: float | None = None
    ratio: float | None = None
    computed: bool = False
    exit_code: int = 0
    max_in_one_second: int | None = None
    first_record_seconds: float | None = None
    ru_maxrss_mb: float | None = None
    errors: list[str] = field(default_factory=list)
    stderr_tail: str = ""

    @property
    def records_per_second(self) -> float | None:
        if self.records is None or not self.wall:
            return None
        return self.records / self.wall

    @property
    def cpu_us_per_record(self) -> float | None:
        if self.cpu is None or not self.records:
            return None
        return self.cpu * 1e6 / self.records

    @property
    def complete(self) -> bool:
        return self.exit_code == 0 and (self.expected is None or self.records == self.expected)


@dataclass
class Report:
    sizes: Sizes
    machine: dict[str, str]
    rows: list[Row]
    notes: list[str]
    targets: list[tuple[str, str, bool | None]]
    startup: Process | None = None
    profile: str = ""

    def row(self, key: str) -> Row | None:
        return next((r for r in self.rows if r.key == key), None)


def run_reader(
    sandbox: SandboxProcess,
    command: Sequence[str],
    row: Row,
    timeout: float,
) -> Row:
    sandbox.reset_stats()
    server_before = sandbox.cpu_seconds()
    done = measure(command, timeout)
    server_cpu = sandbox.cpu_seconds() - server_before
    stats = sandbox.stats()
    admitted = stats.get("admitted") or {}
    count, first, last = admitted.get("count", 0), admitted.get("first"), admitted.get("last")
    rps = (count - 1) / (last - first) if count >= 2 and first is not None and last > first else None
    return replace(
        row,
        records=done.records,
        wall=done.wall,
        requests=stats["total"],
        rps=rps,
        cpu=done.cpu,
        rss_mb=done.peak_rss_mb,
        served_429=stats["served_429"],
        server_cpu=server_cpu,
        exit_code=done.exit_code,
        max_in_one_second=stats.get("max_admitted_in_one_second"),
        first_record_seconds=done.first_record_seconds,
        ru_maxrss_mb=done.ru_maxrss_mb,
        errors=done.errors(),
        stderr_tail=done.stderr_tail if done.exit_code else "",
    )


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as info:
            total_kb = int(info.readline().split()[1])
        memory = f"{total_kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        memory = "unknown"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "connector": connector_version(),
        "CPU": model,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "OS": f"{platform.system()} {platform.release()}",
        "load average at start (1/5/15 min)": load,
    }


def connector_version() -> str:
    """The commit measured, and whether source_customerio/ differs from it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        cdk = version("airbyte-cdk")
    except PackageNotFoundError:
        cdk = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "source_customerio"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"airbyte-cdk {cdk}"
    changes = " + uncommitted changes in source_customerio/" if dirty else ""
    return f"commit {commit}{changes}, airbyte-cdk {cdk}"


def spacing_margin() -> float | None:
    """The request budget's spacing factor (requests are 1/rate x this apart), if it has one."""
    try:
        from source_customerio.http import budget
    except ImportError:
        return None
    margin = getattr(budget, "SPACING_MARGIN", None)
    return float(margin) if isinstance(margin, (int, float)) else None


# -- the scenarios --------------------------------------------------------------------------------------

UNTHROTTLED = "unthrottled"
JSON_LABEL = {"stdlib": "json", "orjson": "orjson"}
# Table order: unthrottled reads, then the ceiling's customers (search vs export, small then large),
# then the ceiling's messages.
ORDER = (
    "minimal_stdlib",
    "minimal_orjson",
    "messages",
    "exports",
    "search_ceiling",
    "exports_ceiling",
    "search_big_computed",
    "exports_big_ceiling",
    "messages_ceiling",
    "minimal_ceiling",
)


def ceiling_label(sizes: Sizes) -> str:
    return f"{sizes.ceiling_rps:g} req/s + {sizes.ceiling_latency_ms:g} ms"


def run_benchmark(sizes: Sizes, profile: bool = False, log: Any = None) -> Report:
    say = log or (lambda text: print(text, file=sys.stderr, flush=True))
    info = machine()
    rows: list[Row] = []
    timeout = sizes.timeout_seconds
    ceiling = ceiling_label(sizes)
    start_ts = deliveries_start()
    profile_text = ""

    def step(sandbox: SandboxProcess, command: Sequence[str], row: Row) -> Row:
        say(f"bench: {row.scenario}: {row.reader} {row.stream} ...")
        measured = run_reader(sandbox, command, row, timeout)
        rows.append(measured)
        rate = measured.records_per_second or 0
        say(f"bench:   {measured.records:,.0f} records in {measured.wall:.1f} s ({rate:,.0f}/s)")
        return measured

    say("bench: connector start-up (spec) ...")
    startup = measure([sys.executable, "-m", "source_customerio", "spec"], timeout)

    with SandboxProcess(
        requests_per_second=0, latency_ms=0, people=sizes.people, deliveries=sizes.deliveries
    ) as sandbox:
        deliveries, people = sandbox.count("messages"), sandbox.count("customers")
        fast = sizes.unthrottled_connector_rps
        for kind in ("stdlib", "orjson"):
            step(
                sandbox,
                minimal_command(sandbox.base_url, start_ts, kind),
                Row(
                    f"minimal_{kind}",
                    UNTHROTTLED,
                    f"minimal reader ({JSON_LABEL[kind]})",
                    "messages",
                    expected=deliveries,
                ),
            )
        with connector_command(connector_config(sandbox, fast, start_ts), "messages") as command:
            measured = step(
                sandbox, command, Row("messages", UNTHROTTLED, "connector", "messages", expected=deliveries)
            )
            if profile:
                say("bench: profiling the unthrottled messages read under py-spy ...")
                profile_text = run_profile(sandbox, command, measured, timeout)
        config = connector_config(sandbox, fast, start_ts, customers_method="exports")
        with connector_command(config, "customers") as command:
            step(
                sandbox,
                command,
                Row("exports", UNTHROTTLED, "connector (exports)", "customers", expected=people),
            )
        sandbox.configure(requests_per_second=sizes.ceiling_rps, latency_ms=sizes.ceiling_latency_ms)
        config = connector_config(sandbox, sizes.ceiling_rps, start_ts, customers_method="exports")
        with connector_command(config, "customers") as command:
            step(
                sandbox,
                command,
                Row(
                    "exports_big_ceiling",
                    ceiling,
                    "connector (exports)",
                    "customers",
                    expected=people,
                    ceiling=sizes.ceiling_rps,
                ),
            )

    with SandboxProcess(
        requests_per_second=sizes.ceiling_rps,
        latency_ms=sizes.ceiling_latency_ms,
        people=sizes.throttled_people,
        deliveries=sizes.throttled_deliveries,
    ) as sandbox:
        few_people, few_deliveries = sandbox.count("customers"), sandbox.count("messages")
        rate = sizes.ceiling_rps
        for method in ("search", "exports"):
            config = connector_config(sandbox, rate, start_ts, customers_method=method)
            with connector_command(config, "customers") as command:
                step(
                    sandbox,
                    command,
                    Row(
                        f"{method}_ceiling",
                        ceiling,
                        f"connector ({method})",
                        "customers",
                        expected=few_people,
                        ceiling=rate,
                    ),
                )
        with connector_command(connector_config(sandbox, rate, start_ts), "messages") as command:
            step(
                sandbox,
                command,
                Row(
                    "messages_ceiling",
                    ceiling,
                    "connector",
                    "messages",
                    expected=few_deliveries,
                    ceiling=rate,
                ),
            )
        step(
            sandbox,
            minimal_command(sandbox.base_url, start_ts, "stdlib"),
            Row(
                "minimal_ceiling",
                ceiling,
                f"minimal reader ({JSON_LABEL['stdlib']})",
                "messages",
                expected=few_deliveries,
                ceiling=rate,
            ),
        )

    report = Report(sizes, info, rows, [], [], startup=startup, profile=profile_text)
    _derive(report, people)
    info["load average at end (1/5/15 min)"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    at_end = connector_version()
    if at_end != info["connector"]:
        info["connector at the end (the code changed during the run!)"] = at_end
    return report


def search_requests(people: int) -> int:
    """Requests the connector's search-and-hydrate makes for `people` people (see streams/customers.py)."""
    return max(1, math.ceil(people / SEARCH_PAGE)) + math.ceil(people / HYDRATE_BATCH)


def _derive(report: Report, people: int) -> None:
    """Ratios, the computed search row, notes and the targets."""
    rows, notes, targets = report.rows, report.notes, report.targets
    sizes = report.sizes
    get = report.row

    def ratio(connector: Row | None, baseline: Row | None) -> float | None:
        if connector is None or baseline is None:
            return None
        a, b = connector.records_per_second, baseline.records_per_second
        return a / b if a and b else None

    messages, minimal, minimal_orjson = get("messages"), get("minimal_stdlib"), get("minimal_orjson")
    if messages is not None:
        messages.ratio = ratio(messages, minimal)
    messages_ceiling = get("messages_ceiling")
    if messages_ceiling is not None:
        messages_ceiling.ratio = ratio(messages_ceiling, get("minimal_ceiling"))

    search, exports_few, exports_big = (
        get("search_ceiling"),
        get("exports_ceiling"),
        get("exports_big_ceiling"),
    )
    computed: Row | None = None
    search_fixed = 0.0
    if search is not None and search.rps and search.wall and search.requests:
        # Fixed costs (start-up, the first answer, the tail) are what the wall time has beyond the
        # request span; the span scales with the number of requests at the measured rate.
        span = (search.requests - 1) / search.rps
        search_fixed = max(search.wall - span, 0.0)
        requests = search_requests(people)
        wall = search_fixed + (requests - 1) / search.rps
        computed = Row(
            "search_big_computed",
            search.scenario,
            "connector (search), computed",
            "customers",
            records=people,
            expected=people,
            wall=wall,
            requests=requests,
            rps=search.rps,
            ceiling=search.ceiling,
            computed=True,
        )
        rows.append(computed)
    rows.sort(key=lambda r: ORDER.index(r.key) if r.key in ORDER else len(ORDER))

    startup = report.startup
    if startup is not None:
        notes.append(
            f"Connector start-up alone (`spec`: imports, no request) takes {startup.wall:.2f} s wall, "
            f"{startup.cpu:.2f} s CPU and {startup.peak_rss_mb:.0f} MB; every connector row includes it."
        )
    if messages is not None and minimal_orjson is not None:
        orjson_ratio = ratio(messages, minimal_orjson)
        if orjson_ratio:
            notes.append(
                f"Against the orjson minimal reader the connector's `messages` ratio is {orjson_ratio:.2f} "
                f"(the table's ratio is against the stdlib-json one, a plain `requests` loop)."
            )
    if computed is not None and search is not None and search.rps:
        notes.append(
            f"COMPUTED row: `customers` by search for {people:,} people = {computed.requests:,.0f} requests "
            f"({search_requests(people) - math.ceil(people / HYDRATE_BATCH):,} search + "
            f"{math.ceil(people / HYDRATE_BATCH):,} hydrate) at the rate measured for {search.records:,.0f} "
            f"people ({search.rps:.2f} req/s), plus that read's fixed cost "
            f"({search_fixed:.1f} s). Every other row is measured."
        )
    throttled = [r for r in rows if r.ceiling and not r.computed]
    if throttled:
        busiest = max(r.max_in_one_second or 0 for r in throttled)
        text = (
            f"At the ceiling the sandbox admitted at most {busiest} requests in any one second "
            f"(limit {sizes.ceiling_rps:g})."
        )
        margin = spacing_margin()
        if margin:
            text += (
                f" The connector's budget spaces requests {margin:g}/rate apart, so its best sustained "
                f"rate is {sizes.ceiling_rps / margin:.2f} req/s ({100 / margin:.1f}% of the ceiling)."
            )
        notes.append(text)
    for row in rows:
        if not row.computed and not row.complete:
            problem = f"exit code {row.exit_code}" if row.exit_code else ""
            if row.expected is not None and row.records != row.expected:
                problem += f"{'; ' if problem else ''}{row.records:,.0f} records of {row.expected:,}"
            notes.append(
                f"FAILED: {row.scenario} {row.reader} {row.stream}: {problem}. {' '.join(row.errors)}"
            )

    full = Sizes()

    def check(name: str, value: str, met: bool | None, at_scale: bool = True) -> None:
        """A target; judged only at (or above) the sizes it is defined for."""
        targets.append((name, value, met if at_scale else None))

    if messages is not None:
        check(
            f"unthrottled messages: connector / minimal reader >= {TARGETS['ratio']:.2f}",
            _fmt(messages.ratio, 2),
            None if messages.ratio is None else messages.ratio >= TARGETS["ratio"],
            sizes.deliveries >= full.deliveries,
        )
    exports = get("exports")
    if exports is not None and exports.wall is not None:
        check(
            f"customers, {people:,} people by export, unthrottled: under {TARGETS['exports_seconds']:.0f} s",
            f"{exports.wall:.1f} s",
            exports.wall < TARGETS["exports_seconds"] and exports.complete,
            sizes.people >= full.people,
        )
    for unthrottled in (messages, exports):
        if unthrottled is not None and unthrottled.rss_mb is not None:
            check(
                f"peak RSS of unthrottled {unthrottled.stream} ({unthrottled.reader}) "
                f"< {TARGETS['rss_mb']:.0f} MB",
                f"{unthrottled.rss_mb:.0f} MB",
                unthrottled.rss_mb < TARGETS["rss_mb"],
                min(sizes.people, sizes.deliveries) >= full.people,
            )
    for key in ("search_ceiling", "messages_ceiling"):
        at_ceiling = get(key)
        if at_ceiling is not None:
            check(
                f"at the ceiling, {at_ceiling.stream} ({at_ceiling.reader}): sustained >= "
                f"{TARGETS['rps']} req/s",
                f"{_fmt(at_ceiling.rps, 2)} req/s",
                None if at_ceiling.rps is None else at_ceiling.rps >= TARGETS["rps"],
                sizes.throttled_people >= full.throttled_people
                and sizes.throttled_deliveries >= full.throttled_deliveries // 2,
            )
    connector_throttled = [r for r in throttled if r.reader.startswith("connector")]
    if connector_throttled:
        total_429 = sum(r.served_429 or 0 for r in connector_throttled)
        check("429s served to the connector at the ceiling: 0", str(total_429), total_429 == 0)
    if search is not None and exports_few is not None and search.wall and exports_few.wall:
        measured = search.wall / exports_few.wall
        notes.append(
            f"Exports vs search at the ceiling, {search.records:,.0f} people, both MEASURED: "
            f"{search.wall:.1f} s vs {exports_few.wall:.1f} s = {measured:.1f}x."
        )
    if computed is not None and exports_big is not None and exports_big.wall and computed.wall:
        speedup = computed.wall / exports_big.wall
        notes.append(
            f"Exports vs search at the ceiling, {people:,} people: search {computed.wall:,.0f} s (COMPUTED) "
            f"vs export {exports_big.wall:.1f} s (MEASURED) = {speedup:.1f}x."
        )
        check(
            f"exports vs search at the ceiling, {people:,} people: >= {TARGETS['speedup']:.0f}x",
            f"{speedup:.1f}x (search computed)",
            speedup >= TARGETS["speedup"] and exports_big.complete,
            sizes.people >= full.people,
        )
    check(
        "every measured read returned exactly the sandbox's records, exit code 0",
        f"{sum(r.complete for r in rows if not r.computed)}/{sum(not r.computed for r in rows)}",
        all(r.complete for r in rows if not r.computed),
    )


# -- rendering ------------------------------------------------------------------------------------------

COLUMNS = (
    "scenario",
    "reader",
    "stream",
    "records",
    "wall s",
    "records/s",
    "requests",
    "requests/s (% of ceiling)",
    "CPU s",
    "CPU µs/record",
    "peak RSS MB",
    "429s",
    "sandbox CPU s",
    "vs minimal",
)


def _fmt(value: float | None, digits: int = 0, thousands: bool = True) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}" if thousands else f"{value:.{digits}f}"


def _cells(row: Row) -> list[str]:
    mark = "≈ " if row.computed else ""
    records = _fmt(row.records)
    if not row.computed and row.expected is not None and row.records != row.expected:
        records += f" (of {row.expected:,}!)"
    if row.exit_code:
        records += f" (exit {row.exit_code}!)"
    rps = _fmt(row.rps, 2)
    if row.rps is not None and row.ceiling:
        rps += f" ({100 * row.rps / row.ceiling:.0f}%)"
    return [
        row.scenario,
        row.reader,
        row.stream,
        records,
        mark + _fmt(row.wall, 1),
        mark + _fmt(row.records_per_second),
        mark + _fmt(row.requests),
        rps,
        _fmt(row.cpu, 1),
        _fmt(row.cpu_us_per_record, 1),
        _fmt(row.rss_mb, 0),
        _fmt(row.served_429),
        _fmt(row.server_cpu, 1),
        _fmt(row.ratio, 2),
    ]


def table(rows: list[Row]) -> str:
    cells = [list(COLUMNS), *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    numeric = set(range(3, len(COLUMNS)))

    def line(values: list[str]) -> str:
        padded = [
            v.rjust(w) if i in numeric else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if i in numeric else ("-" * (w + 2)) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(cells[0]), rule, *(line(c) for c in cells[1:])])


def render(report: Report) -> str:
    sizes = report.sizes
    out = [f"## Benchmark ({datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')})", ""]
    out += [f"- {name}: {value}" for name, value in report.machine.items()]
    out += [
        f"- sizes: {sizes.deliveries:,} deliveries and {sizes.people:,} people unthrottled; "
        f"{sizes.throttled_people:,} people and {sizes.throttled_deliveries:,} deliveries at the ceiling "
        f"({ceiling_label(sizes)})",
        "- the sandbox runs in its own process on the same machine and competes for its cores; "
        "its CPU is not in the reader's CPU columns",
        "",
        table(report.rows),
        "",
        "Requests/s: API requests admitted by the sandbox over the span from the first to the last one. "
        "CPU: user + sys of the reader process (wait4). Peak RSS: the reader's VmHWM. "
        "≈ marks computed figures.",
        "",
    ]
    out += [f"- {note}" for note in report.notes]
    out += ["", "Targets:", ""]
    for name, value, met in report.targets:
        verdict = "not judged at these sizes" if met is None else ("met" if met else "MISSED")
        out.append(f"- {verdict}: {name} (got {value})")
    if report.profile:
        out += ["", report.profile]
    failures = [r for r in report.rows if r.exit_code and r.stderr_tail]
    for row in failures:
        out += ["", f"stderr of {row.reader} {row.stream} ({row.scenario}):", "```", row.stderr_tail, "```"]
    return "\n".join(out) + "\n"


# -- profile --------------------------------------------------------------------------------------------

# (category, frame patterns): a sample belongs to the first category one of its frames matches,
# walking from the innermost frame outwards; start-up imports are recognised first.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("decode page JSON (orjson.loads, error table)", ("_decode_payload",)),
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
        f"{_fmt(per_record, 1)} µs, the CPU per record measured without the profiler:",
        "",
        "| where the GIL-holding time goes | share | ≈ µs/record |",
        "|---|---:|---:|",
    ]
    for name, samples in by_category.most_common():
        share = samples / total
        cost = _fmt(share * per_record, 1) if per_record is not None else "—"
        lines.append(f"| {name} | {100 * share:.1f}% | {cost} |")
    lines += ["", "Innermost functions (self time; start-up excluded):", ""]
    lines += [f"- {100 * n / total:.1f}% {name}" for name, n in by_function.most_common(15)]
    if measured is not None and (done.records != measured.expected or done.exit_code):
        lines.append(
            f"(the profiled read returned {done.records:,} of {measured.expected:,} records, "
            f"exit code {done.exit_code})"
        )
    return "\n".join(lines)


# -- command line ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m integration_tests.bench", description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes, under ~30 s (CI)")
    p.add_argument("--deliveries", type=int, help="unthrottled deliveries (default 1,000,000)")
    p.add_argument("--people", type=int, help="people read by export (default 1,000,000)")
    p.add_argument("--throttled-people", type=int, help="people read by search and export at the ceiling")
    p.add_argument("--throttled-deliveries", type=int, help="deliveries read at the ceiling")
    p.add_argument(
        "--profile", action="store_true", help="also profile the unthrottled messages read (py-spy)"
    )
    p.add_argument("--out", type=Path, default=RESULTS, help="markdown copy of the results")
    p.add_argument("--serve-sandbox", metavar="JSON", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def sizes_from(args: argparse.Namespace) -> Sizes:
    sizes = SMOKE if args.smoke else Sizes()
    overrides = {
        name: getattr(args, name)
        for name in ("deliveries", "people", "throttled_people", "throttled_deliveries")
        if getattr(args, name) is not None
    }
    return replace(sizes, **overrides)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve_sandbox:
        serve_sandbox(json.loads(args.serve_sandbox))
        return
    report = run_benchmark(sizes_from(args), profile=args.profile)
    text = render(report)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"(written to {args.out})", file=sys.stderr)


if __name__ == "__main__":
    main()
