"""No record is lost on the way out, even when stdout is unbuffered (PYTHONUNBUFFERED=1, set on many
machines and images) and the process is paused and resumed while the pipe is full: a raw write cut
short by a signal would otherwise drop the rest of a message, with exit code 0."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from integration_tests.connector import CONSOLE_SCRIPT, catalog, write_inputs
from integration_tests.sandbox import SANDBOX_API_KEY, Sandbox

DELIVERIES = 60_000


def test_every_record_arrives_through_an_unbuffered_stdout_while_paused_and_resumed():
    with Sandbox(seed=2, size="small", deliveries=DELIVERIES, requests_per_second=0) as sandbox:
        config = {"access_token": SANDBOX_API_KEY, "base_url": sandbox.base_url, "requests_per_second": 100}
        with tempfile.TemporaryDirectory() as tmp:
            args = ["read", *write_inputs(Path(tmp), config, catalog(["messages"]), None)]
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            process = subprocess.Popen(
                CONSOLE_SCRIPT + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
            )
            done = threading.Event()

            def pause_and_resume() -> None:
                while not done.is_set():
                    time.sleep(0.02)
                    try:
                        process.send_signal(signal.SIGSTOP)
                        time.sleep(0.005)
                        process.send_signal(signal.SIGCONT)
                    except ProcessLookupError:
                        return

            pauser = threading.Thread(target=pause_and_resume, daemon=True)
            pauser.start()
            records = 0
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith(b'{"type":"RECORD"'):
                    records += 1
                time.sleep(0)  # a slow reader keeps the pipe full
            done.set()
            assert process.wait(timeout=120) == 0
        assert records == sandbox.truth("messages", keys=False)["count"] == DELIVERIES
