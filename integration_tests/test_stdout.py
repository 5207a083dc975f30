"""No record is lost on the way out when the operating system accepts only part of a write.

A write to a pipe can be cut short (a full pipe and a signal, under PYTHONUNBUFFERED=1, which many
machines and images set): a writer that does not finish the rest drops the end of a message, and
the sync still exits 0. Here every write to stdout is cut short, every time, so the test does not
depend on a signal arriving at the right moment: the connector runs with stdout as PYTHONUNBUFFERED
makes it (text over an unbuffered raw file), and with `os.write` on it, each accepting at most
CHUNK bytes per call.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from integration_tests.connector import catalog, parse_messages, write_inputs
from integration_tests.sandbox import SANDBOX_API_KEY, Sandbox

DELIVERIES = 3_000
CHUNK = 100  # bytes accepted per write; a RECORD line of a delivery is several times longer

SHORT_WRITES = f"""
import io, os, sys

real_write = os.write

def short_write(fd, data):
    return real_write(fd, bytes(data[:{CHUNK}])) if fd == 1 else real_write(fd, data)

class ShortWrites(io.RawIOBase):
    def writable(self):
        return True

    def fileno(self):
        return 1

    def write(self, data):
        return real_write(1, bytes(data[:{CHUNK}]))

os.write = short_write
sys.stdout = sys.__stdout__ = io.TextIOWrapper(ShortWrites(), encoding="utf-8", write_through=True)
from source_customerio.run import run
run()
"""


def test_every_record_arrives_when_every_write_to_stdout_is_cut_short():
    with Sandbox(seed=2, size="small", deliveries=DELIVERIES, requests_per_second=0) as sandbox:
        config = {"access_token": SANDBOX_API_KEY, "base_url": sandbox.base_url, "requests_per_second": 100}
        with tempfile.TemporaryDirectory() as tmp:
            args = ["read", *write_inputs(Path(tmp), config, catalog(["messages"]), None)]
            done = subprocess.run(
                [sys.executable, "-c", SHORT_WRITES, *args], capture_output=True, text=True, timeout=300
            )
        assert done.returncode == 0, done.stderr[-3000:]
        messages = parse_messages(done.stdout)  # a line cut short fails here, quoted
        keys = [m["record"]["data"]["id"] for m in messages if m["type"] == "RECORD"]
        assert sorted(keys) == sorted(sandbox.truth("messages")["keys"])
        assert len(keys) == DELIVERIES
        longest = max(len(line) for line in done.stdout.splitlines())
        assert longest > 2 * CHUNK, "every message fits in one short write: nothing was cut"
