"""Deliveries: creation-time windows of at most 180 days, from the start to now, with state per window."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
from airbyte_cdk.models import FailureType, Level, SyncMode, Type
from airbyte_cdk.test.entrypoint_wrapper import discover
from jsonschema import Draft7Validator

from source_customerio import SourceCustomerio
from source_customerio.streams import messages
from unit_tests.builders import (
    US,
    ConfigBuilder,
    campaign,
    delivery,
    error_traces,
    log_lines,
    page,
    query,
    read_stream,
    records_of,
    state,
    states_of,
)
from unit_tests.conftest import NOW

DAY = 86_400
SPAN = 180 * DAY - 1  # end_ts - start_ts of a full window (both bounds inclusive)
JAN_1_2024 = 1_704_067_200
JAN_1_2012 = 1_325_376_000
WINDOWS_2024 = [
    (JAN_1_2024, JAN_1_2024 + SPAN),
    (JAN_1_2024 + SPAN + 1, JAN_1_2024 + 2 * SPAN + 1),
    (JAN_1_2024 + 2 * SPAN + 2, NOW),
]


def by_window(pages: dict[int, list[dict]] | None = None):
    """A /messages callback: `pages[start]` is the list of answers, in `next` order, of the window
    that starts at `start` (asked as start_ts = start - 1, see meant()).

    A window without pages answers one delivery created at its start.
    """
    pages = pages or {}

    def answer(request, context):
        params = query(request)
        start_ts = meant(params)[0]
        window = pages.get(start_ts) or [page("messages", [delivery(f"d{start_ts}", start_ts)])]
        position = int(params["start"].rsplit("-", 1)[1]) if "start" in params else 0
        return window[position]

    return answer


def meant(params) -> tuple[int, int]:
    """The window [a, b] a request is for: it asks start_ts = a - 1 and end_ts = b + 1, since whether
    the API includes the bounds themselves is not documented."""
    return int(params["start_ts"]) + 1, int(params["end_ts"]) - 1


def windows_asked(requests_mock) -> list[tuple[int, int]]:
    firsts = [query(r) for r in requests_mock.request_history if "start=" not in r.url]
    return sorted(meant(q) for q in firsts)


def read_messages(config=None, mode=SyncMode.full_refresh, saved=None, expect_error=False):
    config = config or ConfigBuilder().with_start_date("2024-01-01").build()
    stream_state = state("messages", saved) if saved is not None else None
    return read_stream(config, "messages", mode, state=stream_state, expect_error=expect_error)


def test_windows_walk_from_start_date_to_now_without_gaps_or_overlaps(requests_mock, frozen_now):
    requests_mock.get(f"{US}/messages", json=by_window())
    output = read_messages()
    windows = windows_asked(requests_mock)
    assert windows == WINDOWS_2024
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert start == end + 1
    assert all(end - start <= SPAN for start, end in windows)
    assert all(query(r)["limit"] == "1000" for r in requests_mock.request_history)
    assert [r["id"] for r in records_of(output)] == [f"d{start}" for start, _ in WINDOWS_2024]


def test_without_start_date_the_walk_starts_in_2012(requests_mock, frozen_now):
    requests_mock.get(f"{US}/messages", json=by_window())
    read_messages(ConfigBuilder().build())
    windows = windows_asked(requests_mock)
    assert windows[0][0] == JAN_1_2012
    assert windows[-1][1] == NOW
    assert len(windows) == -(-(NOW - JAN_1_2012 + 1) // (SPAN + 1))
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(windows))


def test_next_is_followed_within_a_window(requests_mock, frozen_now, monkeypatch):
    monkeypatch.setattr(messages, "MIN_SPLIT_SECONDS", 10**9)  # never split: follow the chain
    first = WINDOWS_2024[0][0]
    pages = {
        first: [
            page("messages", [delivery("a1", first), delivery("a2", first + 1)], next="cur-1"),
            page("messages", [delivery("a3", first + 2)], next="cur-2"),
            page("messages", [delivery("a4", first + 3)], next=""),
        ]
    }
    requests_mock.get(f"{US}/messages", json=by_window(pages))
    output = read_messages()
    assert [r["id"] for r in records_of(output)][:4] == ["a1", "a2", "a3", "a4"]
    followed = [query(r) for r in requests_mock.request_history if "start=" in r.url]
    assert sorted(q["start"] for q in followed) == ["cur-1", "cur-2"]
    for q in followed:
        assert (*meant(q), q["limit"]) == (*WINDOWS_2024[0], "1000")


def test_a_window_of_several_pages_is_read_as_sub_windows_side_by_side(requests_mock, frozen_now):
    start, end = WINDOWS_2024[0]
    quarter = (end - start + 1) // messages.SUB_WINDOWS
    subs = [(start + i * quarter, start + (i + 1) * quarter - 1) for i in range(messages.SUB_WINDOWS)]
    subs[-1] = (subs[-1][0], end)
    pages = {
        # The whole window answers a first page with more to come: it is set aside.
        start: [page("messages", [delivery("whole-1", start)], next="cur-1")],
        **{a: [page("messages", [delivery(f"sub-{a}", a)], next=f"s{a}-1"),
               page("messages", [delivery(f"sub-{a}-b", a + 1)])] for a, _ in subs[1:]},
    }  # fmt: skip

    def answer(request, context):
        params = query(request)
        if meant(params) == (start, subs[0][1]):
            first_sub = [page("messages", [delivery("sub-first", start)], next="f-1"),
                         page("messages", [delivery("sub-first-b", start + 1)])]  # fmt: skip
            return first_sub[1 if "start" in params else 0]
        return by_window(pages)(request, context)

    requests_mock.get(f"{US}/messages", json=answer)
    output = read_messages()
    asked = {meant(q) for q in map(query, requests_mock.request_history)}
    assert set(subs) <= asked, "the window is covered by its sub-windows, without gap or overlap"
    ids = [r["id"] for r in records_of(output)]
    first_window = {i for i in ids if i.startswith("sub")}
    assert first_window == {"sub-first", "sub-first-b"} | {f"sub-{a}" for a, _ in subs[1:]} | {
        f"sub-{a}-b" for a, _ in subs[1:]
    }
    assert "whole-1" not in ids  # the set-aside page is not emitted twice
    assert len(ids) == len(set(ids))
    assert states_of(output, "messages")[0] == {"created": end}


def test_a_state_follows_each_window_after_its_records(requests_mock, frozen_now):
    requests_mock.get(f"{US}/messages", json=by_window())
    output = read_messages()
    assert states_of(output, "messages") == [{"created": end} for _, end in WINDOWS_2024]
    sequence = [
        ("record", m.record.data["id"])
        if m.type == Type.RECORD
        else ("state", m.state.stream.stream_state.created)
        for m in output.records_and_state_messages
    ]
    expected = []
    for start, end in WINDOWS_2024:
        expected += [("record", f"d{start}"), ("state", end)]
    assert sequence == expected


@pytest.mark.parametrize(
    ("lookback_days", "start_date", "first_start"),
    [
        (30, None, 1_730_000_000 - 30 * DAY),
        (0, None, 1_730_000_000),
        (180, None, 1_730_000_000 - 180 * DAY),
        (30, "2024-10-20", 1_729_382_400),  # start_date is later than saved - lookback
    ],
)
def test_incremental_restarts_lookback_days_before_the_saved_created(
    lookback_days, start_date, first_start, requests_mock, frozen_now
):
    requests_mock.get(f"{US}/messages", json=by_window())
    config = ConfigBuilder().with_(messages_lookback_days=lookback_days)
    if start_date:
        config = config.with_start_date(start_date)
    output = read_messages(config.build(), SyncMode.incremental, {"created": 1_730_000_000})
    windows = windows_asked(requests_mock)
    assert windows[0][0] == first_start
    assert windows[-1][1] == NOW
    assert states_of(output, "messages")[-1] == {"created": NOW}


def test_a_full_refresh_with_state_resumes_after_the_last_window_without_lookback(requests_mock, frozen_now):
    requests_mock.get(f"{US}/messages", json=by_window())
    read_messages(saved={"created": 1_730_000_000})
    assert windows_asked(requests_mock) == [(1_730_000_000, NOW)]


@pytest.mark.parametrize(
    ("saved", "why"), [("abc", "is not a unix timestamp"), (4_102_444_800, "is in the future")]
)
def test_a_bad_state_is_ignored_with_a_warning(saved, why, requests_mock, frozen_now):
    requests_mock.get(f"{US}/messages", json=by_window())
    output = read_messages(mode=SyncMode.incremental, saved={"created": saved})
    assert error_traces(output) == []
    assert windows_asked(requests_mock) == WINDOWS_2024
    assert len(records_of(output)) == 3
    assert any("'messages'" in line and why in line for line in log_lines(output, Level.WARN))


def test_records_are_normalised_to_the_schema(requests_mock, frozen_now):
    raw = delivery(
        "d1",
        WINDOWS_2024[0][0],
        campaign_id="12",
        action_id=7.0,
        metrics={"sent": "1704067300", "opened": None},
        customer_identifiers={"cio_id": 42, "id": "p1", "email": None},
        forgotten="false",
    )
    pages = {WINDOWS_2024[0][0]: [page("messages", [raw])]}
    requests_mock.get(f"{US}/messages", json=by_window(pages))
    records = records_of(read_messages())
    # No typed attribute columns: their sample would ask for people, which this test does not serve.
    streams = discover(SourceCustomerio(), ConfigBuilder().with_(attribute_columns=False).build())
    streams = streams.catalog.catalog.streams
    [schema] = [s.json_schema for s in streams if s.name == "messages"]
    validator = Draft7Validator(schema)
    for record in records:
        assert list(validator.iter_errors(record)) == []
    first = records[0]
    assert (first["campaign_id"], first["action_id"], first["forgotten"]) == (12, 7, False)
    assert first["metrics"]["sent"] == 1_704_067_300
    assert first["customer_identifiers"]["cio_id"] == "42"


def test_a_403_skips_the_stream_and_the_next_stream_is_read(requests_mock, frozen_now):
    requests_mock.get(f"{US}/messages", status_code=403, json={"meta": {"error": "no access"}})
    requests_mock.get(f"{US}/campaigns", json=page("campaigns", [campaign(1)]))
    config = ConfigBuilder().with_start_date("2024-01-01").build()
    output = read_stream(config, ["messages", "campaigns"])
    assert error_traces(output) == []
    assert records_of(output, "messages") == []
    assert [r["id"] for r in records_of(output, "campaigns")] == [1]
    assert any("'messages' skipped" in line for line in log_lines(output, Level.WARN))


def second_window_answers(status: int, body: dict):
    """A /messages callback: every window as by_window(), but the second answers `status`."""
    second = WINDOWS_2024[1][0]
    ok = by_window()

    def answer(request, context):
        if meant(query(request))[0] == second:
            context.status_code = status
            return body
        return ok(request, context)

    return answer


def test_a_failing_window_keeps_the_state_of_the_windows_before_it(requests_mock, frozen_now):
    requests_mock.get(f"{US}/messages", json=second_window_answers(500, {}))
    output = read_messages(expect_error=True)
    assert states_of(output, "messages") == [{"created": WINDOWS_2024[0][1]}]
    assert [r["id"] for r in records_of(output)] == [f"d{WINDOWS_2024[0][0]}"]
    errors = [e for e in error_traces(output) if e.failure_type == FailureType.transient_error]
    assert errors and "'messages'" in errors[0].message and "GET /messages" in errors[0].message


def test_a_403_on_a_later_window_fails_the_stream_and_keeps_the_windows_before_it(requests_mock, frozen_now):
    """The first window was read and emitted: a 403 on the second is not a "skipped" stream."""
    requests_mock.get(f"{US}/messages", json=second_window_answers(403, {"meta": {"error": "no access"}}))
    output = read_messages(expect_error=True)
    assert [r["id"] for r in records_of(output)] == [f"d{WINDOWS_2024[0][0]}"]
    assert states_of(output, "messages") == [{"created": WINDOWS_2024[0][1]}]
    [error] = error_traces(output)[:1]
    assert error.failure_type == FailureType.config_error
    assert "'messages'" in error.message and "GET /messages" in error.message and "403" in error.message
    assert not any("skipped" in line for line in log_lines(output, Level.WARN))


@pytest.mark.parametrize(
    ("days", "rate", "expected"),
    [(180, 10, 8), (90, 10, 4), (30, 10, 2), (2, 10, 2), (180, 100, 4), (90, 100, 2), (2, 100, 2)],
)
def test_sub_windows_are_a_full_windows_share_whatever_the_windows_length(days, rate, expected):
    # The last window (up to now) is often short: its sub-windows are as long as the others', so that
    # the chains that finish last are several side by side. Fewer when the rate is not latency-bound.
    stream = object.__new__(messages.Deliveries)
    stream.context = SimpleNamespace(config=SimpleNamespace(requests_per_second=rate))
    asked: list[tuple[int, int]] = []

    def span_pages(span):
        asked.append(span)
        yield [{"id": str(span)}], len(asked) == 1  # only the whole window says "more"

    stream._span_pages = span_pages
    start = 1_700_000_000
    window = (start, start + days * messages.DAY - 1)
    list(stream._window_pages(window))
    subs = sorted(asked[1:])
    assert len(subs) == expected
    assert subs[0][0] == window[0] and subs[-1][1] == window[1]
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(subs))
