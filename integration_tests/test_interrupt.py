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
    TINY_PAGE,
    assert_clean,
    config_for,
    new_sandbox,
    run,
    run_all,
    start_date_days_ago,
)
from source_customerio.streams.customers import EXPORT_ROWS_PER_SLICE
from source_customerio.streams.messages import WINDOW_SECONDS

# Lists first, the paged one (newsletters: 7 records, pages of 3) where the kill lands, mid page 2.
LISTS = ["campaigns", "newsletters", "broadcasts", "transactional_messages", "segments", "exports"]
LISTS += [s for s in INCREMENTAL if s not in LISTS and s != "messages" and s not in FAN_OUT]
KILL_IN_LISTS = 5 + 4  # campaigns' 5, then 4 newsletters
EXPORT_PEOPLE = EXPORT_ROWS_PER_SLICE + 1_000
NO_LOOKBACK = {"lookback_window_minutes": 0, "messages_lookback_days": 0}


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
            "lists": lambda: _killed_then_resumed(config_for(lists, **NO_LOOKBACK), LISTS, KILL_IN_LISTS),
            "messages": lambda: _killed_then_resumed(
                config_for(deliveries, start_date=start_date_days_ago(800), **NO_LOOKBACK), ["messages"], 7
            ),
            "search": lambda: _killed_then_resumed(
                config_for(search, customers_method="search"), ["customers"], 5, incremental=False
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


@pytest.mark.parametrize("stream", LISTS)
def test_an_incremental_list_re_reads_at_most_one_page_after_a_kill(outcome, stream):
    _, first, second = outcome.lists
    again = set(first.keys_of(stream)) & set(second.keys_of(stream))
    assert len(again) <= TINY_PAGE, (
        f"{stream}: the resumed run delivered {len(again)} records the killed run had already "
        f"delivered (pages hold {TINY_PAGE}); state before the kill: {first.stream_state(stream)}"
    )


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
    assert len(again) <= TINY_PAGE


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
