"""Client-side incremental lists: the whole list is read, old records are dropped, state is the max cursor."""

from __future__ import annotations

import pytest
from airbyte_cdk.models import Level, SyncMode

from unit_tests.builders import (
    ENDPOINTS,
    US,
    ConfigBuilder,
    broadcast,
    campaign,
    collection,
    error_traces,
    export,
    log_lines,
    newsletter,
    page,
    query,
    read_stream,
    records_of,
    segment,
    snippet,
    state,
    states_of,
    transactional_message,
)

T = 1_734_000_000  # the saved cursor: 2024-12-12T10:40:00Z
HOUR = 3600

# stream -> (cursor field, factory(n, cursor) -> record); the factory's n becomes the primary key
STREAMS = {
    "broadcasts": ("updated", broadcast),
    "transactional_messages": ("updated_at", transactional_message),
    "campaigns": ("updated", campaign),
    "newsletters": ("updated", newsletter),
    "segments": ("updated_at", segment),
    "exports": ("updated_at", export),
    "snippets": ("updated_at", lambda n, at: snippet(f"s{n}", at)),
    "collections": ("updated_at", collection),
}


def serve(requests_mock, stream: str, cursors: list) -> None:
    """The stream's endpoint lists one record per cursor value; record n has cursor cursors[n]."""
    method, path, key, _ = ENDPOINTS[stream]
    factory = STREAMS[stream][1]
    requests_mock.register_uri(
        method, f"{US}/{path}", json={key: [factory(n, c) for n, c in enumerate(cursors)]}
    )


def cursor_states(output, stream: str) -> list[dict]:
    """The stream's states without the keys of its last read (test_deletions.py checks those)."""
    out = []
    for blob in states_of(output, stream):
        blob = {k: v for k, v in blob.items() if k != "keys"}
        if isinstance(blob.get("resume"), dict):
            blob["resume"] = {k: v for k, v in blob["resume"].items() if k != "keys"}
        out.append(blob)
    return out


def kept(output, stream: str) -> list[int]:
    """Positions (in the served list) of the records emitted."""
    field = ENDPOINTS[stream][3][0]
    return [int(str(r[field]).lstrip("s")) for r in records_of(output, stream)]


def incremental(stream: str, saved, config=None):
    config = config or ConfigBuilder().build()
    cursor = STREAMS[stream][0]
    return read_stream(config, stream, SyncMode.incremental, state=state(stream, {cursor: saved}))


@pytest.mark.parametrize("stream", STREAMS)
def test_records_older_than_state_minus_lookback_are_dropped(stream, requests_mock):
    serve(requests_mock, stream, [T - HOUR - 1, T - HOUR, T - 1, T + 50, T + 10])
    output = incremental(stream, T)
    assert kept(output, stream) == [1, 2, 3, 4]
    assert cursor_states(output, stream)[-1] == {STREAMS[stream][0]: T + 50}
    assert error_traces(output) == []


@pytest.mark.parametrize(("minutes", "expected"), [(0, [2, 3]), (1, [1, 2, 3]), (120, [0, 1, 2, 3])])
def test_lookback_window_is_configurable(minutes, expected, requests_mock):
    serve(requests_mock, "campaigns", [T - 2 * HOUR, T - 60, T, T + 1])
    output = incremental("campaigns", T, ConfigBuilder().with_(lookback_window_minutes=minutes).build())
    assert kept(output, "campaigns") == expected


@pytest.mark.parametrize("mode", [SyncMode.full_refresh, SyncMode.incremental])
def test_start_date_filters_too(mode, requests_mock):
    start = 1_733_011_200  # 2024-12-01
    serve(requests_mock, "snippets", [start - 1, start, start + 1])
    config = ConfigBuilder().with_start_date("2024-12-01").build()
    output = read_stream(config, "snippets", mode)
    assert kept(output, "snippets") == [1, 2]
    assert cursor_states(output, "snippets")[-1] == {"updated_at": start + 1}


def test_the_later_of_start_date_and_state_wins(requests_mock):
    serve(requests_mock, "campaigns", [T - HOUR, T + 1 * 86_400 - 1, T + 1 * 86_400 + 1])
    config = ConfigBuilder().with_start_date("2024-12-13T10:40:00Z").build()  # T + 1 day
    assert kept(incremental("campaigns", T, config), "campaigns") == [2]


def test_full_refresh_reads_everything_whatever_the_state(requests_mock):
    serve(requests_mock, "campaigns", [T - 10 * HOUR, T + 1])
    output = read_stream(
        ConfigBuilder().build(), "campaigns", SyncMode.full_refresh, state=state("campaigns", {"updated": T})
    )
    assert kept(output, "campaigns") == [0, 1]


def test_state_stays_when_nothing_newer_is_seen(requests_mock):
    serve(requests_mock, "campaigns", [T - 10, T - 5])
    output = incremental("campaigns", T)
    assert kept(output, "campaigns") == [0, 1]
    assert cursor_states(output, "campaigns")[-1] == {"updated": T}


def test_state_is_emitted_once_the_list_is_read_whole(requests_mock):
    serve(requests_mock, "campaigns", [T + 1, T + 3, T + 2])
    output = incremental("campaigns", T)
    assert cursor_states(output, "campaigns") == [{"updated": T + 3}]


def test_string_cursors_are_compared_as_numbers(requests_mock):
    serve(requests_mock, "campaigns", [str(T - 2 * HOUR), str(T + 7), T + 3])
    output = incremental("campaigns", T)
    assert kept(output, "campaigns") == [1, 2]
    assert cursor_states(output, "campaigns")[-1] == {"updated": T + 7}


def test_records_without_a_cursor_are_kept(requests_mock):
    serve(requests_mock, "campaigns", [None, T + 1])
    assert kept(incremental("campaigns", T), "campaigns") == [0, 1]


@pytest.mark.parametrize(
    ("saved", "why"), [("abc", "is not a unix timestamp"), (4_102_444_800, "is in the future")]
)
@pytest.mark.parametrize("stream", ["campaigns", "snippets"])
def test_a_bad_state_is_ignored_with_a_warning_and_start_date_applies(stream, saved, why, requests_mock):
    start = 1_733_011_200  # 2024-12-01
    serve(requests_mock, stream, [start - 1, start + 5, T])
    output = incremental(stream, saved, ConfigBuilder().with_start_date("2024-12-01").build())
    assert error_traces(output) == []
    assert kept(output, stream) == [1, 2]
    warnings = [line for line in log_lines(output, Level.WARN) if f"'{stream}'" in line]
    assert warnings and all(why in line and "start_date" in line for line in warnings)
    assert cursor_states(output, stream)[-1] == {STREAMS[stream][0]: T}


def test_a_bad_state_without_start_date_reads_everything(requests_mock):
    serve(requests_mock, "campaigns", [1, T])
    output = incremental("campaigns", "2024-12-01")
    assert kept(output, "campaigns") == [0, 1]
    assert cursor_states(output, "campaigns")[-1] == {"updated": T}


def test_a_float_state_is_accepted(requests_mock):
    serve(requests_mock, "campaigns", [T - HOUR - 1, T - HOUR])
    output = incremental("campaigns", float(T) + 0.5)
    assert kept(output, "campaigns") == [1]
    assert log_lines(output, Level.WARN) == []


# -- a paged list: one page per slice, resumable mid-list ----------------------------------------


def serve_pages(requests_mock, pages) -> None:
    """newsletters (cursor-paged): `pages[start] = ([(id, updated), ...], next)`; the first has start None."""

    def answer(request, context):
        rows, following = pages[query(request).get("start")]
        return page("newsletters", [newsletter(n, at) for n, at in rows], next=following)

    requests_mock.get(f"{US}/newsletters", json=answer)


THREE_PAGES = {
    None: ([(1, T + 5), (2, T - 10 * HOUR)], "p2"),
    "p2": ([(3, T + 9)], "p3"),
    "p3": ([(4, T + 2)], None),
}


def newsletters_from(saved_state, requests_mock, pages=THREE_PAGES):
    serve_pages(requests_mock, pages)
    saved = state("newsletters", saved_state) if saved_state is not None else None
    output = read_stream(ConfigBuilder().build(), "newsletters", SyncMode.incremental, state=saved)
    assert error_traces(output) == []
    return output


def checkpoints(output) -> list[dict]:
    """The newsletters states in order, without the CDK's repeat of the final one."""
    states = cursor_states(output, "newsletters")
    return [s for n, s in enumerate(states) if n == 0 or s != states[n - 1]]


def starts(requests_mock) -> list[str | None]:
    return [query(r).get("start") for r in requests_mock.request_history]


def test_a_paged_list_saves_where_to_resume_and_the_highest_cursor_after_each_page(requests_mock):
    output = newsletters_from({"updated": T}, requests_mock)
    assert kept(output, "newsletters") == [1, 3, 4]
    assert checkpoints(output) == [
        {"updated": T, "resume": {"start": "p2", "highest": T + 5}},
        {"updated": T, "resume": {"start": "p3", "highest": T + 9}},
        {"updated": T + 9},
    ]


@pytest.mark.parametrize(
    ("saved", "final"),
    [
        ({"updated": T, "resume": {"start": "p3", "highest": T + 9}}, {"updated": T + 9}),
        ({"updated": T, "resume": {"start": "p3", "highest": T + 1}}, {"updated": T + 2}),
        # Killed during the first sync: no cursor yet, the highest of the pages before the kill.
        ({"resume": {"start": "p3", "highest": T + 9}}, {"updated": T + 9}),
        # A highest that is not a time is not carried over; the rest of the resume point is.
        ({"updated": T, "resume": {"start": "p3", "highest": "abc"}}, {"updated": T + 2}),
    ],
)
def test_a_resumed_list_starts_at_the_saved_page_and_carries_the_highest_over(saved, final, requests_mock):
    output = newsletters_from(saved, requests_mock)
    assert starts(requests_mock) == ["p3"]
    assert query(requests_mock.request_history[0])["limit"] == "100"
    assert kept(output, "newsletters") == [4]
    assert checkpoints(output)[-1] == final
    assert log_lines(output, Level.WARN) == []


@pytest.mark.parametrize(
    "resume", ["p3", ["p3"], {"start": 3, "highest": T + 99}, {"highest": T + 99}, {"start": None}]
)
def test_an_unusable_resume_point_is_set_aside_with_a_warning_and_the_list_read_whole(resume, requests_mock):
    output = newsletters_from({"updated": T, "resume": resume}, requests_mock)
    assert starts(requests_mock) == [None, "p2", "p3"]
    assert kept(output, "newsletters") == [1, 3, 4]
    assert checkpoints(output)[-1] == {"updated": T + 9}  # its highest, unusable too, is not carried over
    warnings = [line for line in log_lines(output, Level.WARN) if "'newsletters'" in line]
    assert warnings and all("resume=" in line and "reading the list whole" in line for line in warnings)
