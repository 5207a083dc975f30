"""Fixtures every unit test gets: no real waiting, no cached region, a fixed clock on request."""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Iterator

import pytest
from airbyte_cdk.sources.streams.http import rate_limiting

from source_customerio import region, source
from source_customerio.http import budget
from source_customerio.streams import base, customer_export


class SleepRecorder:
    """Stands in for a module's `time`: `sleep` records instead of waiting, and `monotonic` runs
    ahead of the real clock by the time "slept", so code that waits for a deadline still gets there.
    """

    def __init__(self) -> None:
        self.calls: list[float] = []
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.calls.append(seconds)

    def monotonic(self) -> float:
        return time.monotonic() + sum(self.calls)

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)


@pytest.fixture(autouse=True)
def _production_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff as in production, whatever the shell exports for benchmarks."""
    monkeypatch.delenv("SOURCE_CUSTOMERIO_BACKOFF_SCALE", raising=False)


@pytest.fixture(autouse=True)
def _fresh_region_cache() -> Iterator[None]:
    source._api_root.cache_clear()
    yield
    source._api_root.cache_clear()


@pytest.fixture(autouse=True)
def retry_sleeps(monkeypatch: pytest.MonkeyPatch) -> SleepRecorder:
    """The CDK's retry waits (Retry-After or backoff, plus its extra second), recorded not slept."""
    recorder = SleepRecorder()
    monkeypatch.setattr(rate_limiting, "time", recorder)
    return recorder


@pytest.fixture(autouse=True)
def probe_sleeps(monkeypatch: pytest.MonkeyPatch) -> SleepRecorder:
    """The region probe's retry waits, recorded not slept."""
    recorder = SleepRecorder()
    monkeypatch.setattr(region, "time", recorder)
    return recorder


@pytest.fixture(autouse=True)
def budget_sleeps(monkeypatch: pytest.MonkeyPatch) -> SleepRecorder:
    """The request budget's spacing, recorded not slept (test_budget checks it with a fake clock)."""
    recorder = SleepRecorder()
    monkeypatch.setattr(budget, "time", recorder)
    return recorder


@pytest.fixture(autouse=True)
def export_sleeps(monkeypatch: pytest.MonkeyPatch) -> SleepRecorder:
    """The customer export's polling and re-download waits, recorded not slept."""
    recorder = SleepRecorder()
    monkeypatch.setattr(customer_export, "time", recorder)
    return recorder


NOW = 1_735_689_600  # 2025-01-01T00:00:00Z


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> int:
    """Streams see `NOW` as the current unix time."""
    monkeypatch.setattr(base, "time", types.SimpleNamespace(time=lambda: float(NOW)))
    return NOW
