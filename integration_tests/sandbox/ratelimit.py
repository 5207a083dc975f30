"""The App API's rate limit: at most N requests admitted per API key in any sliding 1-second window.

The API documents "10 requests per second" but not the algorithm; a sliding window is the strictest honest
reading, so a connector that is within it here is within it there. Rejected requests do not consume budget.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(self, requests_per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        # Replaceable, so that a test can move time by hand instead of racing the real clock.
        self.clock = clock
        self._lock = threading.Lock()
        self._admitted: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()
        self.max_admitted_in_one_second = 0
        self.set_rate(requests_per_second)

    def set_rate(self, requests_per_second: float) -> None:
        if requests_per_second < 0:
            raise ValueError("requests_per_second must be >= 0 (0 = unlimited)")
        with self._lock:
            self.requests_per_second = float(requests_per_second)
            rps = self.requests_per_second
            # Below 1 rps the window stretches: 0.5 rps admits one request per 2 s.
            self._capacity = max(1, int(rps)) if rps > 0 else 0
            self._window = 1.0 if rps >= 1 or rps == 0 else 1.0 / rps

    @property
    def detail(self) -> str:
        window = f"{self._window:g}s"
        return f"rate limited to {self._capacity} requests per {window}"

    def admit(self, key: str, now: float | None = None) -> bool:
        t = self.clock() if now is None else now
        with self._lock:
            if self._capacity:
                q = self._admitted.setdefault(key, deque())
                while q and q[0] <= t - self._window:
                    q.popleft()
                if len(q) >= self._capacity:
                    return False
                q.append(t)
            # Track the busiest 1-second window over all admitted requests, limited or not.
            a = self._all
            a.append(t)
            while a and a[0] <= t - 1.0:
                a.popleft()
            self.max_admitted_in_one_second = max(self.max_admitted_in_one_second, len(a))
            return True

    def reset_stats(self) -> None:
        with self._lock:
            self._all.clear()
            self.max_admitted_in_one_second = 0
