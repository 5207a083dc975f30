"""The request budget: evenly spaced requests, pushed back by a 429's Retry-After (on a fake clock)."""

from __future__ import annotations

import itertools
import math

import pytest
import requests

from source_customerio.http import budget
from source_customerio.http.budget import WINDOW_MARGIN_SECONDS, RequestBudget
from unit_tests.builders import US, ConfigBuilder, newsletter, page, read_stream, records_of


class FakeClock:
    def __init__(self, start: float = 1000.0, oversleep: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self.oversleep = oversleep  # a thread that wakes late, as on a busy machine

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds + (self.oversleep if len(self.sleeps) % 7 == 3 else 0.0)


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


def test_ten_per_second_are_spaced_a_tenth_of_a_second(clock):
    times = acquire_times(RequestBudget(10), clock, 6)
    assert times[0] == 1000.0  # the first call does not wait
    assert all(gap == pytest.approx(0.1) for gap in gaps(times))


@pytest.mark.parametrize("rate", [1, 2.5, 50])
def test_spacing_follows_the_rate(rate, clock):
    times = acquire_times(RequestBudget(rate), clock, 60)
    assert all(gap >= 1 / rate - 1e-9 for gap in gaps(times))
    # The window margin costs at most 3% of the rate.
    assert 59 / (times[-1] - times[0]) >= 0.97 * rate


@pytest.mark.parametrize("rate", [10, 2.5, 50, 1])
def test_no_second_ever_holds_more_than_the_rate_even_when_threads_wake_late(rate, monkeypatch):
    clock = FakeClock(oversleep=0.025)
    monkeypatch.setattr(budget, "time", clock)
    times = acquire_times(RequestBudget(rate), clock, 200)
    allowed = math.ceil(rate)
    assert clock.oversleep and any(a > b for a, b in zip(clock.sleeps, clock.sleeps[1:], strict=False))
    for first, following in zip(times, times[allowed:], strict=False):
        # `allowed` + 1 requests never fit in one second plus the margin for network time.
        assert following - first >= allowed / rate + WINDOW_MARGIN_SECONDS - 1e-9


def test_ten_per_second_sustain_more_than_nine_and_a_half(clock):
    times = acquire_times(RequestBudget(10), clock, 101)
    assert 100 / (times[-1] - times[0]) > 9.5


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
    assert clock.now == pytest.approx(pushed_at + 3 + 0.1)


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
    assert requests_budget.requests_per_second() == pytest.approx(5 / 0.4)


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
    assert sum(clock.sleeps) == pytest.approx(2 * 0.5 + WINDOW_MARGIN_SECONDS)


def test_a_429_during_a_sync_holds_the_next_request_back(requests_mock, clock):
    serve_three_pages(requests_mock, first=[{"status_code": 429, "headers": {"Retry-After": "4"}}])
    output = read_stream(ConfigBuilder().build(), "newsletters")
    assert len(records_of(output)) == 3
    assert len(requests_mock.request_history) == 4
    assert clock.sleeps[0] == pytest.approx(4)


def test_the_rate_is_zero_before_any_time_has_passed(clock):
    requests_budget = RequestBudget(10)
    requests_budget.acquire_call(None)  # the first call does not wait: the clock has not moved
    assert requests_budget.requests == 1
    assert requests_budget.requests_per_second() == 0.0


class HeaderlessAnswer:
    """An answer without headers: the CDK types update_from_response's response as Any."""

    status_code = 429


def test_a_429_without_headers_at_all_pushes_back_one_second(clock):
    requests_budget = RequestBudget(10)
    requests_budget.update_from_response(None, HeaderlessAnswer())
    start = clock.now
    requests_budget.acquire_call(None)
    assert clock.now == pytest.approx(start + 1)


def test_an_unthrottled_budget_still_counts_requests(clock):
    requests_budget = RequestBudget(0)
    for _ in range(3):
        requests_budget.acquire_call(None)
    assert requests_budget.requests == 3
    assert clock.sleeps == []
