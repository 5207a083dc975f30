"""The three paging styles: cursor (`next` -> `start`), offset (suppressions) and none."""

from __future__ import annotations

import itertools
import logging

import pytest
from airbyte_cdk.models import FailureType, Level, SyncMode

from source_customerio.http import pagination
from source_customerio.http.pagination import (
    CursorPagination,
    EndlessPagingError,
    NoPagination,
    OffsetPagination,
)
from unit_tests.builders import (
    US,
    ConfigBuilder,
    activity,
    calls_to,
    campaign,
    error_traces,
    log_lines,
    newsletter,
    page,
    query,
    read_stream,
    records_of,
    sender_identity,
    suppression,
    suppression_pages,
)

# stream -> (path, records key, record factory)
CURSOR_STREAMS = {
    "newsletters": ("newsletters", "newsletters", newsletter),
    "activities": ("activities", "activities", lambda i: activity(f"a{i}")),
    "sender_identities": ("sender_identities", "sender_identities", sender_identity),
}


def cursor_pages(records_key, factory, pages):
    """requests_mock answers: page i holds records i*10.. and points at `pages[i]` as next."""
    return [
        {"json": page(records_key, [factory(i * 10 + 1), factory(i * 10 + 2)], next=n)}
        for i, n in enumerate(pages)
    ]


@pytest.mark.parametrize("stream", CURSOR_STREAMS)
def test_cursor_paging_follows_next_with_the_largest_page_size(stream, requests_mock):
    path, key, factory = CURSOR_STREAMS[stream]
    requests_mock.get(f"{US}/{path}", cursor_pages(key, factory, ["Tok-1", "Tok-2", None]))
    # Hidden sender identities are a second listing (test_senders.py); here it is empty.
    requests_mock.get(f"{US}/{path}?hidden=true", json=page(key, []))
    output = read_stream(ConfigBuilder().build(), stream)
    assert len(records_of(output)) == 6
    sent = [query(r) for r in calls_to(requests_mock, f"/v1/{path}") if "hidden" not in query(r)]
    assert sent == [{"limit": "100"}, {"limit": "100", "start": "Tok-1"}, {"limit": "100", "start": "Tok-2"}]


@pytest.mark.parametrize("last_next", ["", None, "absent"])
def test_cursor_paging_stops_on_an_empty_null_or_missing_next(last_next, requests_mock):
    final = page("newsletters", [newsletter(9)])
    if last_next != "absent":
        final["next"] = last_next
    requests_mock.get(
        f"{US}/newsletters", [{"json": page("newsletters", [newsletter(1)], next="t1")}, {"json": final}]
    )
    output = read_stream(ConfigBuilder().build(), "newsletters")
    assert [r["id"] for r in records_of(output)] == [1, 9]
    assert len(requests_mock.request_history) == 2


@pytest.mark.parametrize("mode", [SyncMode.full_refresh, SyncMode.incremental])
def test_cursor_paging_follows_next_through_empty_pages(mode, requests_mock):
    answers = [
        page("newsletters", [], next="t1"),
        page("newsletters", [newsletter(1)], next="t2"),
        page("newsletters", [], next="t3"),
        page("newsletters", [], next="t4"),
        page("newsletters", [newsletter(4)], next=""),
    ]
    requests_mock.get(f"{US}/newsletters", [{"json": a} for a in answers])
    output = read_stream(ConfigBuilder().build(), "newsletters", mode)
    assert [r["id"] for r in records_of(output)] == [1, 4]
    assert [query(r).get("start") for r in requests_mock.request_history] == [None, "t1", "t2", "t3", "t4"]
    assert error_traces(output) == [] and log_lines(output, Level.WARN) == []


@pytest.mark.parametrize("mode", [SyncMode.full_refresh, SyncMode.incremental])
def test_cursor_paging_warns_and_stops_when_the_server_repeats_a_cursor(mode, requests_mock):
    loop = [{"json": page("newsletters", [newsletter(i)], next=n)} for i, n in [(1, "a"), (2, "b"), (3, "a")]]
    requests_mock.get(f"{US}/newsletters", [*loop, {"json": page("newsletters", [newsletter(4)], next="b")}])
    output = read_stream(ConfigBuilder().build(), "newsletters", mode)
    assert [r["id"] for r in records_of(output)] == [1, 2, 3]
    assert [query(r).get("start") for r in requests_mock.request_history] == [None, "a", "b"]
    [warning] = log_lines(output, Level.WARN)
    assert "'newsletters'" in warning and "GET /newsletters" in warning and "already given (a)" in warning


@pytest.mark.parametrize("mode", [SyncMode.full_refresh, SyncMode.incremental])
def test_a_long_run_of_empty_pages_with_new_cursors_ends_the_stream_loudly(mode, requests_mock, monkeypatch):
    monkeypatch.setattr(pagination, "MAX_EMPTY_PAGES_IN_A_ROW", 5)
    served = itertools.count()
    requests_mock.get(f"{US}/newsletters", json=lambda r, c: page("newsletters", [], next=f"t{next(served)}"))
    output = read_stream(ConfigBuilder().build(), "newsletters", mode, expect_error=True)
    assert len(requests_mock.request_history) == 5
    [error] = [e for e in error_traces(output) if e.stream_descriptor]
    assert error.failure_type == FailureType.system_error
    assert "'newsletters'" in error.message and "GET /newsletters" in error.message
    assert "5 empty pages in a row" in error.message


def test_no_paging_sends_no_limit_and_ignores_a_next(requests_mock):
    requests_mock.get(f"{US}/campaigns", json=page("campaigns", [campaign(1)], next="ignored"))
    output = read_stream(ConfigBuilder().build(), "campaigns")
    assert [r["id"] for r in records_of(output)] == [1]
    assert len(requests_mock.request_history) == 1
    assert query(requests_mock.last_request) == {}


def test_offset_paging_asks_1000_and_moves_by_rows_received(requests_mock):
    rows = [suppression(f"p{i}@example.com") for i in range(2500)]
    requests_mock.get(f"{US}/esp/suppression/bounces", json=suppression_pages({"bounces": rows}))
    for kind in ("blocks", "spam_reports", "invalid_emails"):
        requests_mock.get(f"{US}/esp/suppression/{kind}", json={"suppressions": []})
    output = read_stream(ConfigBuilder().build(), "eps_suppression")
    assert len(records_of(output)) == 2500
    sent = [query(r) for r in calls_to(requests_mock, "/v1/esp/suppression/bounces")]
    assert sent == [{"limit": "1000", "offset": str(o)} for o in (0, 1000, 2000)]


@pytest.mark.parametrize("total", [7, 9])
def test_offset_paging_gets_every_row_from_a_server_that_clamps_the_limit(total, requests_mock):
    rows = [suppression(f"p{i}@example.com") for i in range(total)]

    def clamped(request, context):
        offset = int(query(request)["offset"])
        return {"suppressions": rows[offset : offset + 3]}

    requests_mock.get(f"{US}/esp/suppression/bounces", json=clamped)
    for kind in ("blocks", "spam_reports", "invalid_emails"):
        requests_mock.get(f"{US}/esp/suppression/{kind}", json={"suppressions": []})
    output = read_stream(ConfigBuilder().build(), "eps_suppression")
    assert sorted(r["email"] for r in records_of(output)) == sorted(r["email"] for r in rows)
    offsets = [int(query(r)["offset"]) for r in calls_to(requests_mock, "/v1/esp/suppression/bounces")]
    assert offsets[:3] == [0, 3, 6]


# -- the paginators, directly -------------------------------------------------------------------


def test_cursor_paginator():
    warnings = []
    paginator = CursorPagination(1000)
    paginator.warn = warnings.append
    assert paginator.first_params() == {"limit": 1000}
    assert paginator.next_params({"next": 42}, 5) == {"limit": 1000, "start": "42"}
    assert paginator.first_params() == {"limit": 1000, "start": "42"}  # it stands at the next page
    assert paginator.next_params({"next": "42"}, 5) is None  # already followed
    assert len(warnings) == 1 and "42" in warnings[0]
    assert CursorPagination(10).next_params(["not", "a", "dict"], 5) is None


@pytest.mark.parametrize("last", [{"next": ""}, {"next": None}, {}])
def test_cursor_paginator_follows_empty_pages_until_the_next_is_gone(last):
    paginator = CursorPagination(10)
    assert paginator.next_params({"next": "a"}, 0) == {"limit": 10, "start": "a"}
    assert paginator.next_params({"next": "b"}, 0) == {"limit": 10, "start": "b"}
    assert paginator.empty_in_a_row == 2
    assert paginator.next_params({"next": "c"}, 3) == {"limit": 10, "start": "c"}
    assert paginator.empty_in_a_row == 0
    assert paginator.next_params(last, 0) is None
    assert paginator.finished


def test_cursor_paginator_raises_after_too_many_empty_pages_in_a_row(monkeypatch):
    monkeypatch.setattr(pagination, "MAX_EMPTY_PAGES_IN_A_ROW", 3)
    paginator = CursorPagination(10)
    paginator.next_params({"next": "a"}, 0)
    paginator.next_params({"next": "b"}, 0)
    with pytest.raises(EndlessPagingError, match="3 empty pages in a row"):
        paginator.next_params({"next": "c"}, 0)


def test_cursor_paginator_resumes_at_a_start():
    assert CursorPagination(100, start="tok2").first_params() == {"limit": 100, "start": "tok2"}
    assert CursorPagination(None).first_params() == {}
    # A loop back to the cursor it resumed from is a repeat too.
    resumed = CursorPagination(100, start="tok2")
    resumed.warn = lambda message: None
    assert resumed.next_params({"next": "tok2"}, 3) is None


def test_a_saved_start_is_known_until_its_page_is_read_and_restart_forgets_it():
    fresh = CursorPagination(100, start="tok2")
    assert fresh.saved_start is None  # a cursor given in this sync, not a saved one
    saved = CursorPagination(100, start="tok2", saved=True)
    assert saved.saved_start == "tok2"
    saved.restart()
    assert saved.saved_start is None and saved.first_params() == {"limit": 100}
    read = CursorPagination(100, start="tok2", saved=True)
    read.next_params({"next": "tok3"}, 1)
    assert read.saved_start is None
    assert NoPagination().saved_start is None


def test_offset_paginator_ends_on_a_short_page_only_after_a_longer_one():
    paginator = OffsetPagination(1000)
    assert paginator.first_params() == {"limit": 1000, "offset": 0}
    assert paginator.next_params({}, 3) == {"limit": 1000, "offset": 3}
    assert paginator.next_params({}, 3) == {"limit": 1000, "offset": 6}
    assert paginator.next_params({}, 1) is None


def test_offset_paginator_ends_on_an_empty_page():
    paginator = OffsetPagination(1000)
    assert paginator.next_params({}, 1000) == {"limit": 1000, "offset": 1000}
    assert paginator.next_params({}, 0) is None


def test_no_pagination():
    assert NoPagination(100).first_params() == {}
    assert NoPagination().next_params({"next": "x"}, 10) is None


@pytest.mark.parametrize(
    ("token", "shown"),
    [
        ("c" * 24, "c" * 24),  # up to 24 characters: quoted whole
        ("0123456789abcdefghijKLMNO", "0123456789abcdefghij…"),  # longer: its first 20, then an ellipsis
    ],
)
def test_the_repeated_cursor_warning_quotes_the_cursor_shortened(token, shown):
    warnings = []
    paginator = CursorPagination(10)
    paginator.warn = warnings.append
    assert paginator.next_params({"next": token}, 1) == {"limit": 10, "start": token}
    assert paginator.next_params({"next": token}, 1) is None
    assert warnings == [
        f"the API answered a `next` cursor it had already given ({shown}), which would repeat pages for "
        "ever; the list ends here (every page up to the repeat was read)."
    ]
    # Every page up to the repeat was read: the walk counts as complete (deletions can be proven).
    assert paginator.finished is True


def test_a_restarted_walk_counts_empty_pages_and_its_end_afresh(monkeypatch):
    monkeypatch.setattr(pagination, "MAX_EMPTY_PAGES_IN_A_ROW", 3)
    paginator = CursorPagination(10, start="old", saved=True)
    paginator.next_params({"next": "a"}, 0)
    paginator.next_params({"next": "b"}, 0)  # two empty pages in a row before the restart
    paginator.restart()
    assert paginator.finished is False
    # After the restart the walk may again follow two empty pages with new cursors; the third raises.
    assert paginator.next_params({"next": "a"}, 0) == {"limit": 10, "start": "a"}
    assert paginator.next_params({"next": "b"}, 0) == {"limit": 10, "start": "b"}
    assert paginator.finished is False
    with pytest.raises(EndlessPagingError):
        paginator.next_params({"next": "c"}, 0)


def test_the_endless_paging_error_says_what_happened_and_what_to_do():
    error = EndlessPagingError(200)
    expected = (
        "Customer.io answered 200 empty pages in a row, each with a new `next` cursor; the connector "
        "stopped rather than page for ever. Records and state emitted so far are kept. Run the sync "
        "again; if it happens again, report it to Customer.io support with this message."
    )
    assert error.message == expected
    assert error.internal_message == expected
    assert error.failure_type == FailureType.system_error


def test_a_walk_read_outside_a_stream_still_logs_its_warning(caplog):
    paginator = CursorPagination(10)
    paginator.next_params({"next": "a"}, 1)
    with caplog.at_level(logging.WARNING):
        assert paginator.next_params({"next": "a"}, 1) is None
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "already given (a)" in caplog.records[0].getMessage()
