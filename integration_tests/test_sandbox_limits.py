"""The sandbox's own tests, what it refuses: bad keys, the sliding-window rate limit, injected faults
and missing scopes, as the Customer.io App API would answer them, over real sockets."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import requests

from integration_tests.sandbox import SANDBOX_API_KEY, Faults, Sandbox
from integration_tests.sandbox_client import session


# auth, rate limit, faults, scopes --------------------------------------------------------------------------
def test_bad_keys_get_401(sandbox: Sandbox) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": SANDBOX_API_KEY}):
        r = requests.get(f"{sandbox.base_url}/campaigns", headers=headers)
        assert r.status_code == 401
        assert r.json()["errors"][0]["status"] == "401"
    assert requests.get(f"{sandbox.url}/_admin/stats").status_code == 200
    assert sandbox.stats()["by_status"]["401"] == 3


class ManualClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordedWaits(threading.Event):
    """Stands in for the sandbox's `stopping` event: records each wait (latency, a slow answer)
    instead of waiting, so a test checks what the sandbox holds an answer back for, not a clock."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return self.is_set()


def test_rate_limit_sliding_window(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(requests_per_second=10.0)
    clock = ManualClock()
    sb.app.limiter.clock = clock
    s, url = session(), f"{sb.base_url}/workspaces"

    def statuses(n: int) -> list[int]:
        return [s.get(url).status_code for _ in range(n)]

    assert statuses(13) == [200] * 10 + [429] * 3
    r = s.get(url)
    assert r.status_code == 429 and r.headers.get("Retry-After") == "1"
    assert r.json() == {"errors": [{"detail": "rate limited to 10 requests per 1s", "status": "429"}]}
    clock.now += 0.999  # the first ten are still inside the window; refusals took no room in it
    assert statuses(1) == [429]
    clock.now += 0.001
    assert statuses(11) == [200] * 10 + [429]
    stats = sb.stats()
    assert stats["served_429"] == 6
    assert stats["max_admitted_in_one_second"] == 10
    sb.configure(retry_after_missing=1.0)
    r = s.get(url)
    assert r.status_code == 429 and "Retry-After" not in r.headers


FAULT_KINDS = [
    "error_500",
    "error_502",
    "connection_reset",
    "truncated_json",
    "html_error",
    "slow",
    "burst_429",
]


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_at_probability_one(sandbox_factory: Callable[..., Sandbox], kind: str) -> None:
    faults = Faults(burst_429=2) if kind == "burst_429" else Faults(**{kind: 1.0}, slow_seconds=0.3)
    sb = sandbox_factory(requests_per_second=0, faults=faults)
    sb.app.stopping = waits = RecordedWaits()
    s, url = session(), f"{sb.base_url}/campaigns"
    if kind == "connection_reset":
        with pytest.raises(requests.ConnectionError):
            s.get(url)
    else:
        r = s.get(url)
        if kind == "error_500":
            assert r.status_code == 500 and r.json()["errors"][0]["status"] == "500"
        elif kind == "error_502":
            assert r.status_code == 502 and r.headers["Content-Type"].startswith("text/html")
        elif kind == "truncated_json":
            assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(r.content)
            with pytest.raises(ValueError):
                r.json()
        elif kind == "html_error":
            assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
        elif kind == "slow":
            assert r.status_code == 200 and waits.waits == [0.3]
        else:
            assert r.status_code == 429
            assert [s.get(url).status_code for _ in range(2)] == [429, 200]
    # admin routes are never faulted
    assert requests.get(f"{sb.url}/_admin/truth/campaigns").json()["count"] == 5


def test_faults_are_reproducible(sandbox_factory: Callable[..., Sandbox]) -> None:
    runs = []
    for _ in range(2):
        sb = sandbox_factory(requests_per_second=0, faults=Faults(error_500=0.3, error_502=0.2))
        runs.append([session().get(f"{sb.base_url}/segments").status_code for _ in range(20)])
    assert runs[0] == runs[1] and {500, 502, 200} <= set(runs[0])


def test_forbidden_paths_and_latency(sandbox: Sandbox) -> None:
    s = session()
    sandbox.configure(forbidden_paths=["/v1/esp/suppression"], latency_ms=150)
    sandbox.app.stopping = waits = RecordedWaits()
    r = s.get(f"{sandbox.base_url}/esp/suppression/bounces")
    assert r.status_code == 403 and "required scopes" in r.json()["errors"][0]["detail"]
    assert waits.waits == [0.15]
    assert s.get(f"{sandbox.base_url}/campaigns").status_code == 200
    requests.post(f"{sandbox.url}/_admin/config", json={"forbidden_paths": [], "latency_ms": 0})
    assert s.get(f"{sandbox.base_url}/esp/suppression/bounces").status_code == 200
