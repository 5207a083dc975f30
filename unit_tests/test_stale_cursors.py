"""A page cursor saved by the last sync that the API no longer accepts: warn, read again from the first
page, finish the sync. Any other refusal, or a refusal of a cursor given in this sync, still fails."""

from __future__ import annotations

import logging

import pytest
from airbyte_cdk.models import FailureType, Level, SyncMode

from source_customerio.errors import RequestRefusedError
from source_customerio.streams.base import StreamContext
from source_customerio.streams.catalog import TABLES, ListStream
from unit_tests.builders import (
    US,
    ConfigBuilder,
    error_traces,
    log_lines,
    newsletter,
    page,
    query,
    read_stream,
    records_of,
    state,
    states_of,
)

T = 1_734_000_000
# The list as the API serves it: start=None -> page 1, "p2" -> page 2, "p3" -> page 3 (the last).
PAGES = {
    None: page("newsletters", [newsletter(1, T + 1), newsletter(2, T + 2)], next="p2"),
    "p2": page("newsletters", [newsletter(3, T + 3)], next="p3"),
    "p3": page("newsletters", [newsletter(4, T - 10)], next=""),
}
SAVED = {"updated": T, "resume": {"start": "expired-tok", "highest": T + 5}}


def serve(requests_mock, refuse: dict[str, int]) -> None:
    """PAGES, except that a `start` in `refuse` is answered with that status."""

    def answer(request, context):
        start = query(request).get("start")
        if start in refuse:
            context.status_code = refuse[start]
            return {"errors": [{"detail": f"cursor {start} is not valid", "status": str(refuse[start])}]}
        return PAGES[start]

    requests_mock.get(f"{US}/newsletters", json=answer)


def read_newsletters(saved, expect_error=False, mode=SyncMode.incremental):
    config = ConfigBuilder().with_(lookback_window_minutes=0).build()
    saved_state = state("newsletters", saved)
    return read_stream(config, "newsletters", mode, state=saved_state, expect_error=expect_error)


@pytest.mark.parametrize("status", [400, 404, 410, 422])
@pytest.mark.parametrize("mode", [SyncMode.incremental, SyncMode.full_refresh])
def test_a_refused_saved_cursor_restarts_the_list_and_the_sync_completes(status, mode, requests_mock):
    serve(requests_mock, {"expired-tok": status})
    output = read_newsletters(SAVED, mode=mode)
    assert error_traces(output) == []
    starts = [query(r).get("start") for r in requests_mock.request_history]
    assert starts == ["expired-tok", None, "p2", "p3"]
    kept = [1, 2, 3] if mode == SyncMode.incremental else [1, 2, 3, 4]  # 4 is older than the cursor
    assert [r["id"] for r in records_of(output)] == kept
    # The list was read to its end: the cursor moves to the largest value seen (the resumed one).
    assert states_of(output, "newsletters")[-1] == {"updated": T + 5}
    [warning] = log_lines(output, Level.WARN)
    assert "'newsletters'" in warning and f"answered {status}" in warning
    assert "cursor expired-tok is not valid" in warning and "first page" in warning


def test_a_saved_cursor_that_is_accepted_resumes_where_it_was(requests_mock):
    serve(requests_mock, {})
    output = read_newsletters({"updated": T, "resume": {"start": "p2", "highest": T + 5}})
    assert [query(r).get("start") for r in requests_mock.request_history] == ["p2", "p3"]
    assert [r["id"] for r in records_of(output)] == [3]
    assert log_lines(output, Level.WARN) == []


def test_the_restart_happens_once_then_a_refusal_is_an_error(requests_mock):
    """After the restart, a refused cursor is one this sync was given: retrying cannot help."""
    serve(requests_mock, {"expired-tok": 400, "p2": 400})
    output = read_newsletters(SAVED, expect_error=True)
    assert [query(r).get("start") for r in requests_mock.request_history] == ["expired-tok", None, "p2"]
    errors = [e for e in error_traces(output) if e.stream_descriptor]
    assert errors and errors[0].failure_type == FailureType.system_error
    assert "GET /newsletters was refused (400: cursor p2 is not valid)" in errors[0].message


def test_a_refusal_that_is_not_about_the_cursor_is_not_a_restart(requests_mock):
    serve(requests_mock, {"expired-tok": 401})
    output = read_newsletters(SAVED, expect_error=True)
    assert next(e.failure_type for e in error_traces(output)) == FailureType.config_error
    assert len(requests_mock.request_history) == 1


def test_a_server_error_on_a_saved_cursor_is_retried_not_restarted(requests_mock):
    requests_mock.get(
        f"{US}/newsletters",
        [{"status_code": 503}, {"json": PAGES["p3"]}],
    )
    output = read_newsletters({"updated": T, "resume": {"start": "p3", "highest": T + 5}})
    assert [query(r).get("start") for r in requests_mock.request_history] == ["p3", "p3"]
    assert log_lines(output, Level.WARN) == []


# -- the helper for streams that page on their own (customers' search) -----------------------------


def stream() -> ListStream:
    from source_customerio.config import CustomerioConfig
    from source_customerio.http.budget import RequestBudget

    context = StreamContext(CustomerioConfig(access_token="k" * 12), US, RequestBudget(0))
    [table] = [t for t in TABLES if t.name == "newsletters"]
    return ListStream(table, context)


def fetch_with(newsletters: ListStream):
    return lambda start: newsletters.request("newsletters", {"start": start} if start else {})


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_resume_or_restart_reads_the_first_page_when_the_saved_cursor_is_refused(
    status, requests_mock, caplog
):
    serve(requests_mock, {"old": status})
    newsletters = stream()
    with caplog.at_level(logging.WARNING):
        answer = newsletters.resume_or_restart("old", fetch_with(newsletters))
    assert answer == PAGES[None]
    assert [query(r).get("start") for r in requests_mock.request_history] == ["old", None]
    assert any("saved by the last sync" in r.getMessage() for r in caplog.records)


def test_resume_or_restart_passes_other_refusals_and_accepted_cursors_through(requests_mock):
    serve(requests_mock, {"bad": 405})
    newsletters = stream()
    assert newsletters.resume_or_restart("p2", fetch_with(newsletters)) == PAGES["p2"]
    assert newsletters.resume_or_restart(None, fetch_with(newsletters)) == PAGES[None]
    with pytest.raises(RequestRefusedError) as refused:
        newsletters.resume_or_restart("bad", fetch_with(newsletters))
    assert refused.value.status == 405
