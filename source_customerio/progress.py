"""Progress lines for long reads: records so far, request rate, and what is left where known."""

from __future__ import annotations

import logging
import time
from typing import Any

LOG_EVERY_SECONDS = 30.0


class Progress:
    def __init__(
        self, stream: str, logger: logging.Logger, budget: Any, every: float = LOG_EVERY_SECONDS
    ) -> None:
        self.stream = stream
        self.logger = logger
        self.budget = budget
        self.every = every
        self.records = 0
        self.expected: int | None = None
        self.started = time.monotonic()
        self._requests_at_start = budget.requests
        self._last_log = self.started

    def add(self, count: int) -> None:
        self.records += count
        now = time.monotonic()
        if now - self._last_log >= self.every:
            self._last_log = now
            self.logger.info(self.line(now))

    def line(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        elapsed = max(now - self.started, 1e-9)
        rate = self.records / elapsed
        requests = (self.budget.requests - self._requests_at_start) / elapsed
        text = (
            f"Stream '{self.stream}': {self.records:,} records in {elapsed:,.0f} s "
            f"({rate:,.0f}/s, {requests:.1f} requests/s)"
        )
        if self.expected and rate > 0:
            left = max(self.expected - self.records, 0)
            text += f"; about {left:,} left, ~{left / rate:,.0f} s"
        return text

    def finish(self) -> None:
        """End of a slice (a page, a window): a line if one is due, so a long stream's last
        stretch is reported too; never more than one line per interval."""
        now = time.monotonic()
        if now - self._last_log >= self.every:
            self._last_log = now
            self.logger.info(self.line(now))
