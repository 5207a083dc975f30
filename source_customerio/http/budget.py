"""One request budget shared by every stream and worker thread of a sync.

Customer.io allows about 10 requests per second per workspace, counted over all apps using it.
Requests are spaced evenly (a slot every 1/rate seconds) rather than sent in bursts, so that a
server counting over any sliding second never sees more than the rate; a 429 pushes every
thread's next slot back by the server's Retry-After.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from airbyte_cdk.sources.streams.call_rate import AbstractCallRatePolicy, APIBudget

# Spacing a little wider than 1/rate absorbs scheduling jitter between our clock and the server's.
SPACING_MARGIN = 1.025


class RequestBudget(APIBudget):
    def __init__(self, requests_per_second: float) -> None:
        super().__init__(policies=[])
        self.interval = SPACING_MARGIN / requests_per_second if requests_per_second > 0 else 0.0
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self.requests = 0
        self.started = time.monotonic()

    def acquire_call(self, request: Any, block: bool = True, timeout: float | None = None) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
            self.requests += 1
        wait = slot - now
        if wait > 0:
            time.sleep(wait)

    def get_matching_policy(self, request: Any) -> AbstractCallRatePolicy | None:
        return None

    def update_from_response(self, request: Any, response: Any) -> None:
        if getattr(response, "status_code", None) != 429:
            return
        retry_after = _retry_after_seconds(response) or 1.0
        with self._lock:
            self._next_slot = max(self._next_slot, time.monotonic() + retry_after)

    def requests_per_second(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.requests / elapsed if elapsed > 0 else 0.0


def _retry_after_seconds(response: Any) -> float | None:
    value = response.headers.get("Retry-After") if hasattr(response, "headers") else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
