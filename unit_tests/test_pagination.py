"""The three paging styles: cursor (`next` -> `start`), offset (suppressions) and none."""

from __future__ import annotations

import pytest

from source_customerio.http.pagination import CursorPagination, NoPagination, OffsetPagination
from unit_tests.builders import (
    US,
    ConfigBuilder,
    activity,
    calls_to,
    campaign,
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
    output = read_stream(ConfigBuilder().build(), stream)
    assert len(records_of(output)) == 6
    sent = [query(r) for r in calls_to(requests_mock, f"/v1/{path}")]
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


def test_cursor_paging_stops_on_an_empty_page_even_with_a_next(requests_mock):
    requests_mock.get(
        f"{US}/newsletters",
        [
            {"json": page("newsletters", [newsletter(1)], next="t1")},
            {"json": page("newsletters", [], next="t2")},
        ],
    )
    output = read_stream(ConfigBuilder().build(), "newsletters")
    assert [r["id"] for r in records_of(output)] == [1]
    assert len(requests_mock.request_history) == 2


def test_cursor_paging_stops_when_the_server_repeats_a_cursor(requests_mock):
    loop = [{"json": page("newsletters", [newsletter(i)], next=n)} for i, n in [(1, "a"), (2, "b"), (3, "a")]]
    requests_mock.get(f"{US}/newsletters", [*loop, {"json": page("newsletters", [newsletter(4)], next="b")}])
    output = read_stream(ConfigBuilder().build(), "newsletters")
    assert [r["id"] for r in records_of(output)] == [1, 2, 3]
    assert [query(r).get("start") for r in requests_mock.request_history] == [None, "a", "b"]


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
    paginator = CursorPagination(1000)
    assert paginator.first_params() == {"limit": 1000}
    assert paginator.next_params({"next": 42}, 5) == {"limit": 1000, "start": "42"}
    assert paginator.next_params({"next": "42"}, 5) is None  # already followed
    assert paginator.next_params(["not", "a", "dict"], 5) is None


def test_cursor_paginator_resumes_at_a_start():
    assert CursorPagination(100, start="tok2").first_params() == {"limit": 100, "start": "tok2"}
    assert CursorPagination(None).first_params() == {}


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
