"""Deliveries on the seconds where windows and sub-windows meet are read exactly once, whether the API
counts `start_ts` and `end_ts` as inside the answer or not (the documentation does not say)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from unit_tests.builders import US, ConfigBuilder, delivery, page, query, read_stream, records_of
from unit_tests.conftest import NOW

JAN_1_2024 = 1_704_067_200
SEMANTICS = list(itertools.product([False, True], repeat=2))  # (start_ts exclusive, end_ts exclusive)


class FakeDeliveries:
    """/v1/messages over deliveries created at `times`, with one reading of the bounds, `per_page` a page."""

    def __init__(self, times: set[int], start_exclusive: bool, end_exclusive: bool, per_page: int) -> None:
        self.times = times
        self.start_exclusive = start_exclusive
        self.end_exclusive = end_exclusive
        self.per_page = per_page
        self.asked: set[tuple[int, int]] = set()

    def __call__(self, request, context):
        params = query(request)
        lo, hi = int(params["start_ts"]), int(params["end_ts"])
        self.asked.add((lo, hi))
        chosen = sorted(
            t
            for t in self.times
            if (t > lo if self.start_exclusive else t >= lo) and (t < hi if self.end_exclusive else t <= hi)
        )
        offset = int(params.get("start", 0))
        more = offset + self.per_page < len(chosen)
        rows = [delivery(f"d{t}", t) for t in chosen[offset : offset + self.per_page]]
        return page("messages", rows, next=str(offset + self.per_page) if more else "")


def read_with(api: FakeDeliveries, requests_mock) -> list[str]:
    requests_mock.get(f"{US}/messages", json=api)
    config = ConfigBuilder().with_start_date("2024-01-01").build()
    return [r["id"] for r in records_of(read_stream(config, "messages"))]


def seams(asked: set[tuple[int, int]]) -> set[int]:
    """Every second next to a bound the connector asked for: where a window or sub-window meets the next."""
    return {t for lo, hi in asked for t in (lo - 1, lo, lo + 1, hi - 1, hi, hi + 1)}


@pytest.mark.parametrize(("start_exclusive", "end_exclusive"), SEMANTICS)
@pytest.mark.parametrize("per_page", [1000, 2])  # one page per window, or windows split into sub-windows
def test_deliveries_on_every_seam_are_read_once(
    start_exclusive, end_exclusive, per_page, requests_mock, frozen_now
):
    # Seed deliveries on the seams of the requests made, read again, until no new seam appears (more
    # deliveries can split a window that was not split before).
    times = {JAN_1_2024 - 1, JAN_1_2024, JAN_1_2024 + 1, NOW - 1, NOW, NOW + 1}
    for _ in range(5):
        api = FakeDeliveries(set(times), start_exclusive, end_exclusive, per_page)
        ids = read_with(api, requests_mock)
        requests_mock.reset()
        new = seams(api.asked) - times
        if not new:
            break
        times |= new
    else:
        pytest.fail("the seams kept moving")
    expected = {f"d{t}" for t in times if JAN_1_2024 <= t <= NOW}
    assert [i for i, n in Counter(ids).items() if n > 1] == [], "a delivery was read twice"
    assert set(ids) == expected, (sorted(expected - set(ids))[:5], sorted(set(ids) - expected)[:5])
    if per_page == 2:
        assert len(api.asked) > 3, "windows were split into sub-windows"


def test_a_delivery_outside_its_window_is_dropped_and_one_without_a_readable_created_kept(
    requests_mock, frozen_now
):
    odd = delivery("odd", 0)
    odd["created"] = "yesterday"
    inside, outside = delivery("inside", NOW - 5), delivery("outside", JAN_1_2024 + 5)
    requests_mock.get(f"{US}/messages", json=page("messages", [odd, inside, outside]))
    config = ConfigBuilder().with_start_date("2024-12-31").build()  # one window, the last day
    assert [r["id"] for r in records_of(read_stream(config, "messages"))] == ["odd", "inside"]
