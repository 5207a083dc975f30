"""Interrupted syncs: SIGKILL the connector part-way through a read, start it again with the last
STATE it printed, and the two runs together deliver every record at least once. State comes often
enough that the second run re-reads at most one page, window or slice of what the first delivered.

Each scenario is a killed run and a resumed run; the scenarios run side by side."""

from __future__ import annotations

from contextlib import ExitStack
from types import SimpleNamespace

import pytest

from integration_tests.connector import FAN_OUT, INCREMENTAL, catalog, key_of
from integration_tests.scenarios import (
    assert_clean,
    config_for,
    keys_from,
    new_sandbox,
    run,
    run_all,
    start_date_days_ago,
    truth_cursors,
)
from source_customerio.streams.customers import EXPORT_ROWS_PER_SLICE
from source_customerio.streams.messages import WINDOW_SECONDS

# Lists first: campaigns read whole, then the paged newsletters, where the kill lands one record into
# their second page.
LISTS = ["campaigns", "newsletters", "broadcasts", "transactional_messages", "segments", "exports"]
LISTS += [s for s in INCREMENTAL if s not in LISTS and s != "messages" and s not in FAN_OUT]
PAGED_LIST = "newsletters"
EXPORT_PEOPLE = EXPORT_ROWS_PER_SLICE + 1_000
NO_LOOKBACK = {"lookback_window_minutes": 0, "messages_lookback_days": 0}


def one_into_page_two(sandbox, stream, after=()):
    """The RECORD count at which a kill lands one record into `stream`'s second page, after every
    record of the streams read before it (from the sandbox's truth and page size)."""
    page = sandbox.app.api.page_size_cap
    assert sandbox.truth(stream, keys=False)["count"] > page + 1, f"{stream} needs a second page"
    return sum(sandbox.truth(s, keys=False)["count"] for s in after) + page + 1


def _killed_then_resumed(config, streams, kill_after, incremental=True):
    configured = catalog(streams, incremental=incremental)
    first = run("read", config, configured, kill_after_records=kill_after)
    second = run("read", config, configured, state=first.final_states())
    return first, second


@pytest.fixture(scope="module")
def outcome():
    with ExitStack() as stack:
        lists = stack.enter_context(new_sandbox(seed=31))
        deliveries = stack.enter_context(new_sandbox(seed=32))
        search = stack.enter_context(new_sandbox(seed=33))
        export = stack.enter_context(
            new_sandbox(
                seed=34, people=EXPORT_PEOPLE, export_ready_after_polls=1, export_ready_after_seconds=0
            )
        )
        calls = {
            "lists": lambda: _killed_then_resumed(
                config_for(lists, **NO_LOOKBACK), LISTS, one_into_page_two(lists, PAGED_LIST, ["campaigns"])
            ),
            "messages": lambda: _killed_then_resumed(
                config_for(deliveries, start_date=start_date_days_ago(800), **NO_LOOKBACK), ["messages"], 7
            ),
            "search": lambda: _killed_then_resumed(
                config_for(search, customers_method="search"),
                ["customers"],
                one_into_page_two(search, "customers"),
                incremental=False,
            ),
            "export": lambda: _killed_then_resumed(
                config_for(export, customers_method="exports"),
                ["customers"],
                EXPORT_ROWS_PER_SLICE + 500,
                incremental=False,
            ),
        }
        results = run_all(calls)
        sandboxes = {"lists": lists, "messages": deliveries, "search": search, "export": export}
        yield SimpleNamespace(**{name: (sandboxes[name], *results[name]) for name in calls})


def _assert_resumed_cleanly(first, second):
    assert first.exit_code != 0, "the first run was killed"
    assert second.exit_code == 0, second.stdout[-3000:]
    assert second.errors == []
    assert_clean(first)
    assert_clean(second)


def _assert_everything_delivered(sandbox, first, second, stream):
    got = set(first.keys_of(stream)) | set(second.keys_of(stream))
    truth = set(sandbox.truth(stream)["keys"])
    assert truth - got == set(), f"{stream}: lost {sorted(truth - got)[:5]}"
    assert got - truth == set()


def test_incremental_lists_lose_nothing_across_a_kill(outcome):
    sandbox, first, second = outcome.lists
    _assert_resumed_cleanly(first, second)
    assert first.stream_state("campaigns") is not None, "the stream read whole saved its cursor"
    for stream in LISTS:
        _assert_everything_delivered(sandbox, first, second, stream)


def test_the_kill_landed_one_record_into_the_second_page(outcome):
    sandbox, first, _ = outcome.lists
    page = sandbox.app.api.page_size_cap
    assert first.keys_of("campaigns") and len(first.keys_of(PAGED_LIST)) == page + 1
    # The last state before the kill says where page two starts; page one is behind it.
    assert set(first.stream_state(PAGED_LIST)) == {"resume"}, first.stream_state(PAGED_LIST)
    assert isinstance(first.stream_state(PAGED_LIST)["resume"]["start"], str)


def test_the_resumed_list_re_reads_only_the_part_of_the_page_it_was_on(outcome):
    _, first, second = outcome.lists
    on_page_two = first.keys_of(PAGED_LIST)[-1:]
    again = set(first.keys_of(PAGED_LIST)) & set(second.keys_of(PAGED_LIST))
    assert again == set(on_page_two), f"state before the kill: {first.stream_state(PAGED_LIST)}"


@pytest.mark.parametrize("stream", [s for s in LISTS if s != PAGED_LIST])
def test_the_other_lists_re_read_only_what_their_state_asks(outcome, stream):
    """A list read whole before the kill (campaigns) saved its cursor: the resumed run re-reads only
    records at that cursor (the sandbox's truth says which); one never reached is read once."""
    sandbox, first, second = outcome.lists
    saved = first.stream_state(stream)
    expected = keys_from(truth_cursors(sandbox, stream), saved[INCREMENTAL[stream]]) if saved else set()
    again = set(first.keys_of(stream)) & set(second.keys_of(stream))
    assert again == expected, saved


def test_messages_resume_after_the_last_complete_window(outcome):
    sandbox, first, second = outcome.messages
    _assert_resumed_cleanly(first, second)
    _assert_everything_delivered(sandbox, first, second, "messages")
    states = [s["stream"]["stream_state"] for s in first.states]
    assert states, "a state was emitted before the kill"
    assert all(set(state) == {"created"} and isinstance(state["created"], int) for state in states)
    saved = first.stream_state("messages")["created"]
    # Windows end where the first run's window states say; the resumed read starts at the last one.
    both = first.records_of("messages") + second.records_of("messages")
    created = {key_of("messages", r): r["created"] for r in both}
    for key in set(first.keys_of("messages")) & set(second.keys_of("messages")):
        assert saved <= created[key] <= saved + WINDOW_SECONDS, "re-read beyond the window in progress"
    assert all(r["created"] >= saved for r in second.records_of("messages"))


def test_customer_search_resumes_at_the_page_it_was_on(outcome):
    sandbox, first, second = outcome.search
    _assert_resumed_cleanly(first, second)
    _assert_everything_delivered(sandbox, first, second, "customers")
    assert "search_start" in first.stream_state("customers")
    again = set(first.keys_of("customers")) & set(second.keys_of("customers"))
    assert len(again) <= sandbox.app.api.page_size_cap


def test_customer_export_resumes_after_the_rows_done(outcome):
    sandbox, first, second = outcome.export
    _assert_resumed_cleanly(first, second)
    _assert_everything_delivered(sandbox, first, second, "customers")
    state = first.stream_state("customers")
    assert state is not None and state.get("rows_done") == EXPORT_ROWS_PER_SLICE, state
    assert "export_id" in state
    again = set(first.keys_of("customers")) & set(second.keys_of("customers"))
    assert len(again) <= EXPORT_ROWS_PER_SLICE
    # The same export was picked up again, not a new one started.
    assert sandbox.stats()["by_endpoint"].get("POST /v1/exports/customers") == 1
