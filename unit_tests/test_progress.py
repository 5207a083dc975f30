"""Progress lines of long reads: at a steady, modest rate, with records, request rate and what is left."""

from __future__ import annotations

import logging

import pytest

from source_customerio import progress as progress_module
from source_customerio.progress import LOG_EVERY_SECONDS, Progress


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def monotonic(self) -> float:
        return self.now


class Budget:
    requests = 0


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress_module, "time", fake)
    return fake


def test_one_line_per_interval_however_many_pages_arrive(clock, caplog):
    budget = Budget()
    tracker = Progress("messages", logging.getLogger("test.progress"), budget)
    with caplog.at_level(logging.INFO, logger="test.progress"):
        for _ in range(180):  # 180 pages over 90 s: three intervals of 30 s
            clock.now += 0.5
            budget.requests += 1
            tracker.add(1000)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 90 // LOG_EVERY_SECONDS == 3
    assert lines[0] == "Stream 'messages': 60,000 records in 30 s (2,000/s, 2.0 requests/s)"


def test_the_line_says_what_is_left_when_the_total_is_known(clock):
    tracker = Progress("customers", logging.getLogger("test.progress"), Budget())
    tracker.expected = 1_000_000
    clock.now += 100
    tracker.add(250_000)
    assert tracker.line().endswith("about 750,000 left, ~300 s")


def test_a_short_read_logs_nothing(clock, caplog):
    tracker = Progress("topics", logging.getLogger("test.progress"), Budget())
    with caplog.at_level(logging.INFO, logger="test.progress"):
        clock.now += 1
        tracker.add(5)
        tracker.finish()
    assert caplog.records == []
