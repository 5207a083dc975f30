"""The request budget: evenly spaced requests, pushed back by a 429's Retry-After (on a fake clock)."""

from __future__ import annotations

import itertools

import pytest
import requests

from source_customerio.http import budget
from source_customerio.http.budget import SPACING_MARGIN, RequestBudget
from unit_tests.builders import US, ConfigBuilder, newsletter, page, read_stream, records_of


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(budget, "time", fake)
    return fake


def acquire_times(requests_budget: RequestBudget, clock: FakeClock, count: int) -> list[float]:
    times = []
    for _ in range(count):
        requests_budget.acquire_call(None)
        times.append(clock.now)
    return times


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def too_many(retry_after: str | None = None, status: int = 429) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


def test_ten_per_second_are_spaced_at_least_a_tenth_of_a_second(clock):
    times = acquire_times(RequestBudget(10), clock, 6)
    assert times[0] == 1000.0  # the first call does not wait
    assert all(gap >= 0.1 for gap in gaps(times))
    assert all(gap == pytest.approx(SPACING_MARGIN / 10) for gap in gaps(times))
    assert max(gaps(times)) < 0.11


@pytest.mark.parametrize("rate", [1, 2.5, 50])
def test_spacing_follows_the_rate(rate, clock):
    times = acquire_times(RequestBudget(rate), clock, 4)
    assert all(gap == pytest.approx(SPACING_MARGIN / rate) for gap in gaps(times))


def test_calls_already_spaced_by_the_caller_do_not_wait(clock):
    requests_budget = RequestBudget(10)
    for _ in range(3):
        requests_budget.acquire_call(None)
        clock.now += 0.5
    assert clock.sleeps == []


def test_a_429_with_retry_after_pushes_the_next_slot_back(clock):
    requests_budget = RequestBudget(10)
    requests_budget.acquire_call(None)
    requests_budget.update_from_response(None, too_many("3"))
    pushed_at = clock.now
    requests_budget.acquire_call(None)
    assert clock.now == pytest.approx(pushed_at + 3)
    requests_budget.acquire_call(None)
    assert clock.now == pytest.approx(pushed_at + 3 + SPACING_MARGIN / 10)


def test_a_429_without_retry_after_pushes_back_one_second(clock):
    requests_budget = RequestBudget(10)
    requests_budget.acquire_call(None)
    requests_budget.update_from_response(None, too_many())
    start = clock.now
    requests_budget.acquire_call(None)
    assert clock.now == pytest.approx(start + 1)


def test_a_short_retry_after_never_pulls_a_later_slot_forward(clock):
    requests_budget = RequestBudget(10)
    requests_budget.update_from_response(None, too_many("5"))
    requests_budget.update_from_response(None, too_many("1"))
    start = clock.now
    requests_budget.acquire_call(None)
    assert clock.now == pytest.approx(start + 5)


@pytest.mark.parametrize("status", [200, 500, 503])
def test_other_answers_do_not_push_back(status, clock):
    requests_budget = RequestBudget(10)
    requests_budget.update_from_response(None, too_many("30", status=status))
    requests_budget.acquire_call(None)
    assert clock.sleeps == []


def test_requests_are_counted(clock):
    requests_budget = RequestBudget(10)
    acquire_times(requests_budget, clock, 5)
    assert requests_budget.requests == 5
    assert requests_budget.requests_per_second() == pytest.approx(5 / (4 * SPACING_MARGIN / 10))


def serve_three_pages(requests_mock, first=None):
    answers = [
        {"json": page("newsletters", [newsletter(1)], next="t1")},
        {"json": page("newsletters", [newsletter(2)], next="t2")},
        {"json": page("newsletters", [newsletter(3)])},
    ]
    requests_mock.get(f"{US}/newsletters", [*(first or []), *answers])


def test_every_request_of_a_sync_goes_through_the_configured_budget(requests_mock, clock):
    serve_three_pages(requests_mock)
    output = read_stream(ConfigBuilder().with_(requests_per_second=2).build(), "newsletters")
    assert len(records_of(output)) == 3
    assert clock.sleeps == pytest.approx([SPACING_MARGIN / 2] * 2)


def test_a_429_during_a_sync_holds_the_next_request_back(requests_mock, clock):
    serve_three_pages(requests_mock, first=[{"status_code": 429, "headers": {"Retry-After": "4"}}])
    output = read_stream(ConfigBuilder().build(), "newsletters")
    assert len(records_of(output)) == 3
    assert len(requests_mock.request_history) == 4
    assert clock.sleeps[0] == pytest.approx(4)
