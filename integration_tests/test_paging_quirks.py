"""Every cursor-paged stream, read whole under each undocumented paging behaviour the sandbox can switch on
(empty pages that carry a `next`, the last page's `next` null or absent, a last page pointing back to an
earlier cursor), returns exactly the sandbox's truth. A saved cursor that has expired (any of the four
refusals) restarts the list with a warning, and the sync completes. The scenarios run side by side."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import pytest

from integration_tests.connector import catalog
from integration_tests.sandbox import Quirks
from integration_tests.sandbox.util import decode_cursor, encode_cursor
from integration_tests.scenarios import (
    assert_clean,
    assert_complete,
    assert_valid_records,
    complete_read_state,
    config_for,
    new_sandbox,
    run,
    run_all,
    start_date_days_ago,
    stream_state,
    warnings,
)

# The streams whose endpoints page by cursor (customers: its search).
CURSOR_STREAMS = ["newsletters", "activities", "sender_identities", "messages", "customers"]
SWITCHES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "empty_pages_with_next": {"empty_pages_with_next": True},
    "last_page_next_null": {"last_page_next": "null"},
    "last_page_next_absent": {"last_page_next": "absent"},
    "empty_pages_and_absent_next": {"empty_pages_with_next": True, "last_page_next": "absent"},
    "cursor_loop": {"cursor_loop": True},
}
EXPIRED_STATUSES = (400, 404, 410, 422)
TTL_SECONDS = 60.0


def _read_all(sandbox):
    # 740 days back covers the tiny sandbox's deliveries (730 days) in five windows.
    config = config_for(sandbox, customers_method="search", start_date=start_date_days_ago(740))
    return run("read", config, catalog(CURSOR_STREAMS))


def _stale_cursor_scenario(sandbox):
    """A newsletters sync, then one resumed from a state saved after its first page, once that state's
    cursor has expired. Returns (first run, saved state, resumed run)."""
    config = config_for(sandbox, lookback_window_minutes=0)
    first = run("read", config, catalog(["newsletters"], incremental=True))
    saved = next(s["stream"]["stream_state"] for s in first.states if "resume" in s["stream"]["stream_state"])
    aged = {**saved, "resume": {**saved["resume"], "start": aged_cursor(saved["resume"]["start"])}}
    resumed = run(
        "read", config, catalog(["newsletters"], incremental=True), stream_state("newsletters", aged)
    )
    return first, saved, resumed


def aged_cursor(token: str) -> str:
    """The same cursor as if it had been issued two TTLs ago (a state saved by a sync long past)."""
    state = decode_cursor(token, "newsletters")
    return encode_cursor({**state, "t": state["t"] - 2 * TTL_SECONDS})


@pytest.fixture(scope="module")
def outcome():
    with ExitStack() as stack:
        sandboxes = {
            name: stack.enter_context(new_sandbox(seed=51, quirks=Quirks(**knobs)))
            for name, knobs in SWITCHES.items()
        }
        stale = {
            status: stack.enter_context(
                new_sandbox(
                    seed=52, quirks=Quirks(cursor_ttl_seconds=TTL_SECONDS, expired_cursor_status=status)
                )
            )
            for status in EXPIRED_STATUSES
        }
        calls = {name: (lambda sb=sb: _read_all(sb)) for name, sb in sandboxes.items()}
        calls.update({status: (lambda sb=sb: _stale_cursor_scenario(sb)) for status, sb in stale.items()})
        results = run_all(calls, workers=4)
        yield (
            {name: (sandboxes[name], results[name]) for name in SWITCHES},
            {status: (stale[status], results[status]) for status in EXPIRED_STATUSES},
        )


@pytest.mark.parametrize("switch", SWITCHES)
def test_every_cursor_paged_stream_is_read_exactly_under_the_switch(outcome, switch):
    sandbox, result = outcome[0][switch]
    assert result.exit_code == 0, result.stdout[-3000:]
    assert result.errors == []
    for stream in CURSOR_STREAMS:
        assert_complete(sandbox, result, stream)
        assert_valid_records(result, stream)
    assert_clean(result)


@pytest.mark.parametrize("switch", ["empty_pages_with_next", "empty_pages_and_absent_next"])
def test_the_empty_pages_were_served_and_followed(outcome, switch):
    sandbox, result = outcome[0][switch]
    defaults_sandbox, _ = outcome[0]["defaults"]
    served = sandbox.stats()["by_endpoint"]
    plain = defaults_sandbox.stats()["by_endpoint"]
    # An empty page before every page (and one after the last) means more requests on every endpoint.
    for endpoint in ("GET /v1/newsletters", "GET /v1/activities", "POST /v1/customers"):
        assert served[endpoint] > plain[endpoint], endpoint
    assert warnings(result) == []


def test_a_server_loop_is_warned_once_per_list_and_loses_nothing(outcome):
    _, result = outcome[0]["cursor_loop"]
    loops = [w for w in warnings(result) if "already given" in w]
    # (Deliveries' tiny windows and sub-windows fit in one page each: no loop to see there.)
    for stream in ("newsletters", "activities", "sender_identities"):
        assert any(f"Stream '{stream}'" in w for w in loops), (stream, loops)
    assert all("every page up to the repeat was read" in w for w in loops)


@pytest.mark.parametrize("status", EXPIRED_STATUSES)
def test_an_expired_saved_cursor_restarts_the_list_and_the_sync_completes(outcome, status):
    sandbox, (first, saved, resumed) = outcome[1][status]
    assert first.exit_code == 0 and saved["resume"]["start"], saved
    assert resumed.exit_code == 0, resumed.stdout[-3000:]
    assert resumed.errors == []
    # Restarted from the first page: the resumed run alone holds the whole list.
    assert_complete(sandbox, resumed, "newsletters")
    expired = [w for w in warnings(resumed) if "saved by the last sync" in w]
    assert len(expired) == 1 and f"answered {status}" in expired[0] and "'newsletters'" in expired[0]
    complete_read_state(sandbox, "newsletters", resumed.stream_state("newsletters"))
    assert_clean(resumed)


def test_a_saved_cursor_that_has_not_expired_resumes_where_it_was(sandbox_factory):
    sandbox = sandbox_factory(
        seed=53, size="tiny", requests_per_second=0, quirks=Quirks(cursor_ttl_seconds=600)
    )
    config = {**config_for(sandbox), "access_token": sandbox.api_key, "lookback_window_minutes": 0}
    first = run("read", config, catalog(["newsletters"], incremental=True))
    saved = next(s["stream"]["stream_state"] for s in first.states if "resume" in s["stream"]["stream_state"])
    resumed = run(
        "read", config, catalog(["newsletters"], incremental=True), stream_state("newsletters", saved)
    )
    assert resumed.exit_code == 0 and warnings(resumed) == []
    # Only the pages after the saved one: the first page's records are not read again.
    assert (
        0
        < len(resumed.keys_of("newsletters"))
        <= sandbox.truth("newsletters")["count"] - sandbox.app.api.page_size_cap
    )
