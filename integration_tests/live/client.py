"""A small, polite App API client for the contract probes: one request at a time under a rate ceiling,
429s and 5xx retried, and cursor walks that record how a list pages (empty pages, the last `next`,
repeated cursors). It is independent of the connector's HTTP layer on purpose: the probes check the API
itself, not the connector's reading of it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

RETRIES = 5


@dataclass
class Answer:
    status: int
    payload: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Walk:
    """How one cursor-paged list paged."""

    endpoint: str
    pages: int = 0
    records: list[Any] = field(default_factory=list)
    ended: bool = False
    last_next: str | None = None  # the last page's `next`: "empty", "null" or "absent"
    empty_pages_with_next: int = 0
    repeated_cursor: bool = False
    status: int = 200


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        requests_per_second: float = 8.0,
        timeout: float = 60.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {api_key}", "Accept": "application/json"})
        self.interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self.timeout = timeout
        self.requests = 0
        self._last = 0.0

    def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Answer:
        """One request, retried on 429 (Retry-After or backoff), 5xx and connection errors."""
        for attempt in range(RETRIES + 1):
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()
            self.requests += 1
            try:
                response = self.session.request(
                    method,
                    f"{self.base_url}/{path}",
                    params=dict(params or {}),
                    json=json,
                    timeout=self.timeout,
                )
            except requests.RequestException:
                if attempt == RETRIES:
                    raise
                time.sleep(min(2**attempt, 30))
                continue
            if (response.status_code == 429 or response.status_code >= 500) and attempt < RETRIES:
                retry_after = response.headers.get("Retry-After")
                time.sleep(
                    float(retry_after) if retry_after and retry_after.isdigit() else min(2**attempt, 30)
                )
                continue
            try:
                payload = response.json()
            except ValueError:
                payload = None
            return Answer(response.status_code, payload, dict(response.headers))
        raise AssertionError("unreachable")

    def walk(
        self,
        method: str,
        path: str,
        records_key: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        max_pages: int = 30,
    ) -> Walk:
        """Follow `next` (as `start`) until it is missing or empty, a cursor repeats, or `max_pages`."""
        walk = Walk(f"{method} /{path}")
        seen: set[str] = set()
        query = dict(params or {})
        while walk.pages < max_pages:
            answer = self.call(method, path, query, json)
            walk.status = answer.status
            if answer.status != 200 or not isinstance(answer.payload, dict):
                return walk
            walk.pages += 1
            records = answer.payload.get(records_key)
            records = records if isinstance(records, list) else []
            walk.records.extend(records)
            token = answer.payload.get("next")
            if token is None or token == "":
                walk.ended = True
                walk.last_next = (
                    "absent" if "next" not in answer.payload else "null" if token is None else "empty"
                )
                return walk
            if not records:
                walk.empty_pages_with_next += 1
            if str(token) in seen:
                walk.repeated_cursor = walk.ended = True
                return walk
            seen.add(str(token))
            query["start"] = str(token)
        return walk
