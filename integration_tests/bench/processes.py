"""The benchmark's processes: the sandbox, in a process of its own, and one reader process, measured.

Both run from the checkout's root with it on PYTHONPATH and PYTHONUNBUFFERED=1, as users run them.
"""

from __future__ import annotations

import collections
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "bench-key"
RECORD_PREFIX = b'{"type":"RECORD"'
POLL_SECONDS = 0.05
READ_CHUNK = 1 << 20
SANDBOX_SWITCH_INTERVAL = 0.0005  # seconds; Python's default is 0.005


# -- the sandbox, in a process of its own ---------------------------------------------------------------


def serve_sandbox(spec: dict[str, Any]) -> None:
    """Child side of SandboxProcess: a Sandbox whose stats also say when API requests were admitted.

    Runs until stdin closes (the benchmark ended or died), then stops.
    """
    from integration_tests.sandbox import Sandbox

    # The limiter stamps a request when its thread runs: with the default 5 ms switch interval, threads
    # busy serving search pages held a newly arrived request back by up to 64 ms (measured), so requests
    # the connector had spaced by 1.03 s per 10 were stamped less than 1 s apart. An API stamps arrivals.
    # Only where a limit binds: unthrottled, the extra switches cost the sandbox CPU (throughput rows).
    if spec.get("requests_per_second"):
        sys.setswitchinterval(SANDBOX_SWITCH_INTERVAL)
    sandbox = Sandbox(**spec, port=0)
    # Its world, built now, lives as long as the process: out of the cyclic collector's way. Its full
    # collections stopped every thread for 61-71 ms (traced), and the request that arrived meanwhile was
    # stamped that late: the 429s left at the ceiling (the connector's sends were spaced 1.03 s per 10).
    gc.collect()
    gc.freeze()
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
        wait_or_kill(process, 15)
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

    def truth(self, stream: str) -> dict[str, Any]:
        return dict(self._admin("GET", f"truth/{stream}"))

    def mutate(self, stream: str, op: str, count: int) -> dict[str, Any]:
        return dict(self._admin("POST", "mutate", {"stream": stream, "op": op, "count": count}))

    def cpu_seconds(self) -> float:
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_or_kill(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for `process` to end, killing it after `timeout` seconds: a child that hangs on the way out
    (the sandbox after its stdin closed, a profiler after the reader ended) must not hang the benchmark."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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
        wait_or_kill(companion, 60)
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
