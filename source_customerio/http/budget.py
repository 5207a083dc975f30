"""One request budget shared by every stream and worker thread of a sync.

Customer.io allows about 10 requests per second per workspace, counted over all apps using it.
Requests are spaced evenly (a slot every 1/rate seconds) rather than sent in bursts, and no more
than `rate` of them leave in any second (plus a margin), measured on the times they actually
leave: a thread that wakes late cannot end up next to the following one and make a server that
counts over a sliding second see one request too many. A 429 pushes every thread's next slot back
by the server's Retry-After.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Any

from airbyte_cdk.sources.streams.call_rate import AbstractCallRatePolicy, APIBudget

# Added to the window, for the time between a request leaving here and reaching the server.
WINDOW_MARGIN_SECONDS = 0.03


class RequestBudget(APIBudget):
    def __init__(self, requests_per_second: float) -> None:
        super().__init__(policies=[])
        self.interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self.per_window = max(1, math.ceil(requests_per_second)) if requests_per_second > 0 else 0
        self.window = self.per_window * self.interval + WINDOW_MARGIN_SECONDS
        self._sent: deque[float] = deque(maxlen=max(1, self.per_window))
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self.requests = 0
        self.started = time.monotonic()

    def acquire_call(self, request: Any, block: bool = True, timeout: float | None = None) -> None:
        if not self.interval:
            with self._lock:
                self.requests += 1
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
        if slot > now:
            time.sleep(slot - now)
        while True:
            with self._lock:
                now = time.monotonic()
                # (A nanosecond of slack: float sums of the slots may fall a hair short of the window.)
                if len(self._sent) < self.per_window or now - self._sent[0] >= self.window - 1e-9:
                    self._sent.append(now)
                    self.requests += 1
                    return
                wait = self._sent[0] + self.window - now
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
