"""Request statistics, by endpoint template (ids replaced by {id}) and status."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.by_endpoint: Counter[str] = Counter()
            self.by_status: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()
            self.served_429 = 0
            self.download_requests = 0
            self.download_with_auth = 0
            self.auth_seen: set[str] = set()

    def record(self, endpoint: str, status: str, *, authorization: bool, download: bool = False) -> None:
        with self._lock:
            self.total += 1
            self.by_endpoint[endpoint] += 1
            self.by_status[status] += 1
            if status == "429":
                self.served_429 += 1
            if authorization:
                self.auth_seen.add(endpoint)
            if download:
                self.download_requests += 1
                if authorization:
                    self.download_with_auth += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def snapshot(self, max_admitted: int) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "by_endpoint": dict(self.by_endpoint),
                "by_status": dict(self.by_status),
                "served_429": self.served_429,
                "max_admitted_in_one_second": max_admitted,
                "download_requests": self.download_requests,
                "download_requests_with_authorization": self.download_with_auth,
                "authorization_seen_on": sorted(self.auth_seen),
                "faults_injected": dict(self.faults),
            }
