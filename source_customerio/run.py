"""The console script `source-customerio` (and `python -m source_customerio`).

`spec` is answered from the config model alone, without importing the CDK (which costs more than a
second and ~25 MB at start-up); every other command runs through cli.py, with the CDK imported as
fast_import.py arranges.
"""

from __future__ import annotations

import io
import sys
from typing import Any

_REPLACED_STREAMS: list[Any] = []


def run() -> None:
    sys.exit(main(sys.argv[1:]))


def main(args: list[str]) -> int:
    """Run one command; the exit code."""
    if args == ["spec"]:
        from source_customerio.spec import spec_message

        buffer_stdout()
        sys.stdout.buffer.write(spec_message())
        sys.stdout.flush()
        return 0
    from source_customerio import fast_import

    fast_import.install()
    from source_customerio import cli

    return cli.main(args)


def buffer_stdout() -> None:
    """Under PYTHONUNBUFFERED (or -u) stdout writes go straight to the raw file descriptor, and a
    write cut short (a pipe full while a signal arrives) silently drops the rest of the message:
    records lost with exit code 0. A BufferedWriter completes partial writes; the CDK flushes it."""
    raw = getattr(sys.__stdout__, "buffer", None)
    if isinstance(raw, io.RawIOBase):
        # The replaced wrapper would close the shared file object when collected: keep it.
        _REPLACED_STREAMS.append(sys.__stdout__)
        stream = io.TextIOWrapper(io.BufferedWriter(raw, buffer_size=1 << 16), encoding="utf-8")
        sys.stdout = stream
        sys.__stdout__ = stream  # type: ignore[misc]  # where the CDK's PrintBuffer writes
