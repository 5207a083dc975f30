"""Deletions end to end: records deleted in the sandbox between two incremental syncs come back as
tombstones, exactly those, and a destination applying Airbyte's dedup rule (`destination.py`) then
holds exactly the sandbox's truth. A skipped (403) or killed sync emits none and keeps its saved keys;
the next complete one emits them. `emit_deletions: false`, full refresh and a first read emit none.

Each scenario is a series of syncs on a sandbox of its own; the scenarios run side by side."""

from __future__ import annotations

from contextlib import ExitStack
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader

from integration_tests.connector import INCREMENTAL, catalog, primary_key
from integration_tests.destination import DELETED_AT, final_table
from integration_tests.sandbox import Sandbox
from integration_tests.scenarios import (
    DELETION_STREAMS,
    EVERYTHING,
    assert_refused_then_told,
    assert_told_only_by_default,
    complete_read_state,
    config_for,
    forbidden_then_allowed,
    new_sandbox,
    ok,
    run,
    run_all,
    switched_off,
    tombstone_keys,
    tombstones,
    warnings,
)
from integration_tests.scenarios import sync as read
from source_customerio.streams.deletions import decode_keys

STREAMS = sorted(DELETION_STREAMS)


def delete(sandbox: Sandbox, stream: str, count: int = 1) -> set[str]:
    return set(sandbox.mutate(stream, "delete", count)["keys"])


def truths(sandbox: Sandbox, streams: list[str]) -> dict[str, set[str]]:
    return {s: set(sandbox.truth(s)["keys"]) for s in streams}


def without(message: dict[str, Any], field: str) -> dict[str, Any]:
    """A STATE message whose stream state lacks `field` (as states saved before it existed)."""
    stream = message["stream"]
    blob = {k: v for k, v in stream["stream_state"].items() if k != field}
    return {**message, "stream": {**stream, "stream_state": blob}}


def listed_keys(blob: dict[str, Any]) -> set[str]:
    """The keys a state saved (`"keys"` of a stream state or of its resume point), as the truth has them."""
    keys = decode_keys(blob["keys"])
    assert keys is not None, blob
    return {"|".join(map(str, key)) for key in keys}


# -- the scenarios ------------------------------------------------------------------------------------


def deleted_between_syncs(sandbox: Sandbox) -> SimpleNamespace:
    first = ok(read(sandbox, STREAMS, **EVERYTHING))
    before = truths(sandbox, STREAMS)
    states = {s: first.stream_state(s) for s in STREAMS}
    deleted = {s: delete(sandbox, s, 2 if s == "newsletters" else 1) for s in STREAMS}
    updated = sandbox.mutate("campaigns", "update", 1)
    inserted = sandbox.mutate("snippets", "insert", 1)["keys"]
    second = ok(read(sandbox, STREAMS, first.final_states(), **EVERYTHING))
    third = ok(read(sandbox, STREAMS, second.final_states(), **EVERYTHING))
    return SimpleNamespace(**locals())


def interrupted(sandbox: Sandbox) -> SimpleNamespace:
    page = sandbox.app.api.page_size_cap
    first = ok(read(sandbox, ["newsletters"], **EVERYTHING))
    deleted = delete(sandbox, "newsletters", 2)
    assert sandbox.truth("newsletters", keys=False)["count"] > page + 1, "the kill must land on page two"
    config = config_for(sandbox, **EVERYTHING)
    configured = catalog(["newsletters"], incremental=True)
    killed = run("read", config, configured, first.final_states(), kill_after_records=page + 1)
    resumed = ok(read(sandbox, ["newsletters"], killed.final_states(), **EVERYTHING))
    return SimpleNamespace(**locals())


def shifted_pages(sandbox: Sandbox) -> SimpleNamespace:
    """Positional cursors: a newsletter deleted while the list is paged moves a live one off the pages."""
    first = ok(read(sandbox, ["newsletters"], **EVERYTHING))
    sandbox.configure(deleted_while_paging=1)
    sandbox.reset_stats()
    before = set(sandbox.truth("newsletters")["keys"])
    second = ok(read(sandbox, ["newsletters"], first.final_states(), **EVERYTHING))
    asked = sandbox.stats()["by_endpoint"].get("GET /v1/newsletters/{id}", 0)
    deleted_during = before - set(sandbox.truth("newsletters")["keys"])
    sandbox.configure(deleted_while_paging=0)
    third = ok(read(sandbox, ["newsletters"], second.final_states(), **EVERYTHING))
    return SimpleNamespace(**locals())


def empty_answer(sandbox: Sandbox) -> SimpleNamespace:
    first = ok(read(sandbox, ["collections"]))
    deleted = delete(sandbox, "collections", sandbox.truth("collections", keys=False)["count"])
    sandbox.configure(empty_list_omits_key=True)
    omitted = ok(read(sandbox, ["collections"], first.final_states()))
    sandbox.configure(empty_list_omits_key=False)
    listed = ok(read(sandbox, ["collections"], omitted.final_states()))
    return SimpleNamespace(**locals())


SCENARIOS = {
    "between": (61, deleted_between_syncs),
    "interrupted": (62, interrupted),
    "forbidden": (
        63,
        lambda sandbox: forbidden_then_allowed(sandbox, ["campaigns", "collections"], "/v1/collections"),
    ),
    "off": (
        64,
        lambda sandbox: switched_off(sandbox, ["campaigns", "newsletters"], lambda m: without(m, "keys")),
    ),
    "shifted": (65, shifted_pages),
    "empty": (66, empty_answer),
}


@pytest.fixture(scope="module")
def outcome():
    with ExitStack() as stack:
        sandboxes = {
            name: stack.enter_context(new_sandbox(seed=seed)) for name, (seed, _) in SCENARIOS.items()
        }
        calls = {name: (lambda name=name: SCENARIOS[name][1](sandboxes[name])) for name in SCENARIOS}
        results = run_all(calls)
        for name, result in results.items():
            result.sandbox = sandboxes[name]
        yield SimpleNamespace(**results)


# -- deletions between two syncs ----------------------------------------------------------------------


def test_a_first_read_emits_no_tombstone_and_saves_the_keys_it_listed(outcome):
    between = outcome.between
    for stream in STREAMS:
        assert tombstones(between.first, stream) == [], stream
        assert listed_keys(between.states[stream]) == between.before[stream], stream


@pytest.mark.parametrize("stream", STREAMS)
def test_exactly_the_deleted_records_come_back_as_tombstones(outcome, stream):
    between = outcome.between
    assert tombstone_keys(between.second, stream) == between.deleted[stream]
    cursor = INCREMENTAL[stream]
    validator = jsonschema.Draft7Validator(ResourceSchemaLoader("source_customerio").get_schema(stream))
    for record in tombstones(between.second, stream):
        assert set(record) == {*primary_key(stream), cursor, DELETED_AT}
        validator.validate(record)
    assert tombstones(between.third, stream) == [], "a deletion is told once"


@pytest.mark.parametrize("stream", STREAMS)
def test_the_deduplicated_destination_holds_exactly_the_truth(outcome, stream):
    between = outcome.between
    syncs = [run.records_of(stream) for run in (between.first, between.second, between.third)]
    table = final_table(syncs, primary_key(stream), INCREMENTAL[stream])
    assert set(table) == set(between.sandbox.truth(stream)["keys"])
    if stream == "campaigns":
        (changed,) = between.updated["keys"]
        assert table[changed]["updated"] == between.updated["cursor"]
    if stream == "snippets":
        assert set(between.inserted) <= set(table)
    # Without the tombstones the deleted rows would stay.
    live = [r for r in syncs[1] if DELETED_AT not in r]
    stale = final_table([syncs[0], live], primary_key(stream), INCREMENTAL[stream])
    assert between.deleted[stream] <= set(stale)


@pytest.mark.parametrize("stream", STREAMS)
def test_each_complete_read_saves_the_keys_it_listed(outcome, stream):
    between = outcome.between
    complete_read_state(between.sandbox, stream, between.third.stream_state(stream), between.states[stream])


# -- reads that end early, or that are told not to ----------------------------------------------------


def test_a_killed_read_emits_no_tombstone_and_keeps_the_last_complete_read_s_keys(outcome):
    interrupted = outcome.interrupted
    killed = interrupted.killed
    assert killed.exit_code != 0, "the read was killed"
    assert tombstones(killed, "newsletters") == []
    saved = killed.stream_state("newsletters")
    assert saved["keys"] == interrupted.first.stream_state("newsletters")["keys"]
    assert listed_keys(saved["resume"]) == set(killed.keys_of("newsletters")[:-1]), (
        "the keys of the pages read before the kill are saved with the resume point"
    )


def test_the_resumed_read_emits_the_tombstones(outcome):
    interrupted = outcome.interrupted
    assert interrupted.killed.stream_state("newsletters")["resume"]["start"], "it resumed mid-list"
    assert tombstone_keys(interrupted.resumed, "newsletters") == interrupted.deleted
    earlier = interrupted.first.stream_state("newsletters")
    complete_read_state(
        interrupted.sandbox, "newsletters", interrupted.resumed.stream_state("newsletters"), earlier
    )


def test_a_forbidden_stream_emits_none_and_keeps_its_keys_for_the_next_read(outcome):
    assert_refused_then_told(outcome.forbidden, "collections", "campaigns")


@pytest.mark.parametrize("run_name", ["off", "full_refresh", "old_state"])
def test_no_tombstones_when_switched_off_in_full_refresh_or_from_a_state_without_keys(outcome, run_name):
    off = outcome.off
    assert_told_only_by_default(off, run_name)
    for stream in off.streams:
        final = getattr(off, run_name).stream_state(stream) or {}
        if run_name == "old_state":
            # It starts keeping keys.
            complete_read_state(off.sandbox, stream, final, off.first.stream_state(stream))
        else:
            assert "keys" not in final, (run_name, stream)


# -- what the API may do: shift pages under a deletion, omit an empty list ----------------------------


def test_a_record_moved_off_the_pages_by_a_deletion_is_not_taken_for_deleted(outcome):
    shifted = outcome.shifted
    assert len(shifted.deleted_during) == 1 and shifted.asked >= 1, "a live record went unlisted"
    assert tombstones(shifted.second, "newsletters") == []
    assert tombstone_keys(shifted.third, "newsletters") == shifted.deleted_during
    syncs = [run.records_of("newsletters") for run in (shifted.first, shifted.second, shifted.third)]
    table = final_table(syncs, ["id"], "updated")
    assert set(table) == set(shifted.sandbox.truth("newsletters")["keys"])


def test_an_answer_without_its_list_deletes_nothing_until_a_list_comes(outcome):
    empty = outcome.empty
    assert tombstones(empty.omitted, "collections") == []
    assert any("carried no list" in w for w in warnings(empty.omitted))
    assert (
        empty.omitted.stream_state("collections")["keys"] == empty.first.stream_state("collections")["keys"]
    )
    assert tombstone_keys(empty.listed, "collections") == empty.deleted
