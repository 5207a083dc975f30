"""Deletions in the child streams end to end: children deleted in the sandbox between two incremental
syncs, and the children of parents deleted (no longer listed, or answering 404), come back as
tombstones, exactly those, and a destination applying Airbyte's dedup rule (`destination.py`) then holds
exactly the sandbox's truth. A skipped (403) or killed sync emits none for what it did not finish and
keeps those saved keys; `emit_deletions: false`, full refresh and a state without keys emit none. Pages
that shift under a deletion, and answers without their list, delete nothing.

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
from integration_tests.sandbox.subresources import CHILD_STREAMS, DELETABLE_CHILDREN
from integration_tests.scenarios import (
    EVERYTHING,
    assert_refused_then_told,
    assert_told_only_by_default,
    config_for,
    forbidden_then_allowed,
    new_sandbox,
    ok,
    run,
    run_all,
    switched_off,
    sync,
    tombstone_keys,
    tombstones,
    warnings,
)
from source_customerio.streams.deletions import decode_keys

STREAMS = list(DELETABLE_CHILDREN)
PARENTS = {stream: CHILD_STREAMS[stream] for stream in STREAMS}


def keys(sandbox: Sandbox, stream: str) -> set[str]:
    return set(sandbox.truth(stream)["keys"])


def live_parents(sandbox: Sandbox, stream: str) -> set[str]:
    return {str(int(p["id"])) for p in sandbox.world.sub.live_parents(PARENTS[stream])}


def saved_keys(state: dict[str, Any], *only: str) -> set[str]:
    """`parent|child` keys a child stream's state saves (of the parents `only`, or of all)."""
    out = set()
    for pid, entry in state["parents"].items():
        if "keys" in entry and (not only or pid in only):
            decoded = decode_keys(entry["keys"])
            assert decoded is not None, entry
            out |= {f"{pid}|{key}" for (key,) in decoded}
    return out


def of_parents(found: set[str], parents: set[str]) -> set[str]:
    return {key for key in found if key.split("|")[0] in parents}


def without_keys(message: dict[str, Any]) -> dict[str, Any]:
    """A STATE message as saved before the child streams kept keys."""
    blob = message["stream"]["stream_state"]
    parents = {pid: {k: v for k, v in e.items() if k != "keys"} for pid, e in blob["parents"].items()}
    return {**message, "stream": {**message["stream"], "stream_state": {**blob, "parents": parents}}}


# -- the scenarios ------------------------------------------------------------------------------------


def deleted_between_syncs(sandbox: Sandbox) -> SimpleNamespace:
    """Children deleted; a parent of each list deleted; the first parent of each list answering 404."""
    first = ok(sync(sandbox, STREAMS, **EVERYTHING))
    before = {s: keys(sandbox, s) for s in STREAMS}
    children = {s: set(sandbox.mutate(s, "delete", 2)["keys"]) for s in STREAMS}
    parents = {s: set(sandbox.mutate(p, "delete", 1)["keys"]) for s, p in PARENTS.items()}
    sandbox.configure(deleted_parents=1)
    answering_404 = {s: {str(int(sandbox.world.tables[p].record(0)["id"]))} for s, p in PARENTS.items()}
    updated = sandbox.mutate("campaign_actions", "update", 1)
    second = ok(sync(sandbox, STREAMS, first.final_states(), **EVERYTHING))
    third = ok(sync(sandbox, STREAMS, second.final_states(), **EVERYTHING))
    gone = {s: before[s] - keys(sandbox, s) for s in STREAMS}
    return SimpleNamespace(**locals())


def killed(sandbox: Sandbox) -> SimpleNamespace:
    stream = "campaign_actions"
    first = ok(sync(sandbox, [stream], **EVERYTHING))
    before = keys(sandbox, stream)
    sandbox.mutate(stream, "delete", 8)
    parents = set(sandbox.mutate("campaigns", "delete", 2)["keys"])
    gone = before - keys(sandbox, stream)
    config, configured = config_for(sandbox, **EVERYTHING), catalog([stream], incremental=True)
    cut = run("read", config, configured, first.final_states(), kill_after_records=len(before) // 2)
    resumed = ok(sync(sandbox, [stream], cut.final_states(), **EVERYTHING))
    return SimpleNamespace(**locals())


def shifted_pages(sandbox: Sandbox) -> SimpleNamespace:
    """Positional cursors: the first newsletter, and each campaign's first action, deleted as their first
    page is served, so that one live newsletter and one live action of each paged campaign go unlisted."""
    streams = ["campaign_actions", "newsletter_variants"]
    first = ok(sync(sandbox, streams, **EVERYTHING))
    before = {s: keys(sandbox, s) for s in streams}
    sandbox.configure(deleted_while_paging=1, actions_deleted_while_paging=1)
    sandbox.reset_stats()
    second = ok(sync(sandbox, streams, first.final_states(), **EVERYTHING))
    asked = sandbox.stats()["by_endpoint"]
    during = {s: before[s] - keys(sandbox, s) for s in streams}
    sandbox.configure(deleted_while_paging=0, actions_deleted_while_paging=0)
    third = ok(sync(sandbox, streams, second.final_states(), **EVERYTHING))
    return SimpleNamespace(**locals())


def empty_answers(sandbox: Sandbox) -> SimpleNamespace:
    """Every broadcast's actions deleted, and every transactional message: lists answered `{}`."""
    streams = ["broadcast_actions", "transactional_contents"]
    first = ok(sync(sandbox, streams))
    everything = {s: keys(sandbox, s) for s in streams}
    sandbox.mutate("broadcast_actions", "delete", len(everything["broadcast_actions"]))
    sandbox.mutate("transactional_messages", "delete", 10)
    sandbox.configure(empty_list_omits_key=True)
    omitted = ok(sync(sandbox, streams, first.final_states()))
    sandbox.configure(empty_list_omits_key=False)
    listed = ok(sync(sandbox, streams, omitted.final_states()))
    return SimpleNamespace(**locals())


SCENARIOS = {
    "between": ({"seed": 71}, deleted_between_syncs),
    "killed": ({"seed": 72, "counts": {"campaigns": 40}}, killed),
    "forbidden": (
        {"seed": 73},
        lambda box: forbidden_then_allowed(
            box, ["campaign_actions", "broadcast_actions"], "/v1/campaigns/", 2
        ),
    ),
    "off": ({"seed": 74}, lambda box: switched_off(box, STREAMS, without_keys)),
    "shifted": ({"seed": 75}, shifted_pages),
    "empty": ({"seed": 76}, empty_answers),
}


@pytest.fixture(scope="module")
def outcome():
    with ExitStack() as stack:
        boxes = {name: stack.enter_context(new_sandbox(**kw)) for name, (kw, _) in SCENARIOS.items()}
        calls = {name: (lambda name=name: SCENARIOS[name][1](boxes[name])) for name in SCENARIOS}
        yield SimpleNamespace(**run_all(calls))


# -- deletions between two syncs ----------------------------------------------------------------------


def test_each_kind_of_deletion_was_made(outcome):
    between = outcome.between
    for stream in STREAMS:
        assert between.children[stream] <= between.gone[stream]
        for parent in between.parents[stream] | between.answering_404[stream]:
            theirs = of_parents(between.before[stream], {parent})
            assert theirs and theirs <= between.gone[stream], (stream, parent)


def test_a_first_read_emits_no_tombstone_and_saves_each_parent_s_keys(outcome):
    between = outcome.between
    for stream in STREAMS:
        assert tombstones(between.first, stream) == [], stream
        assert saved_keys(between.first.stream_state(stream)) == between.before[stream], stream


@pytest.mark.parametrize("stream", STREAMS)
def test_exactly_the_children_gone_come_back_as_tombstones(outcome, stream):
    between = outcome.between
    assert tombstone_keys(between.second, stream) == between.gone[stream]
    validator = jsonschema.Draft7Validator(ResourceSchemaLoader("source_customerio").get_schema(stream))
    for record in tombstones(between.second, stream):
        assert set(record) == {*primary_key(stream), INCREMENTAL[stream], DELETED_AT}
        validator.validate(record)
    assert tombstones(between.third, stream) == [], "a deletion is told once"
    assert warnings(between.second) == []


@pytest.mark.parametrize("stream", STREAMS)
def test_the_deduplicated_destination_holds_exactly_the_truth(outcome, stream):
    between = outcome.between
    syncs = [run.records_of(stream) for run in (between.first, between.second, between.third)]
    table = final_table(syncs, primary_key(stream), INCREMENTAL[stream])
    assert set(table) == keys(between.sandbox, stream)
    if stream == "campaign_actions":
        (changed,) = between.updated["keys"]
        assert table[changed]["updated"] == between.updated["cursor"]
    # Without the tombstones the deleted rows would stay.
    live = [r for r in syncs[1] if DELETED_AT not in r]
    assert between.gone[stream] <= set(
        final_table([syncs[0], live], primary_key(stream), INCREMENTAL[stream])
    )


@pytest.mark.parametrize("stream", STREAMS)
def test_each_complete_read_saves_the_keys_of_the_parents_still_there(outcome, stream):
    between = outcome.between
    for result in (between.second, between.third):
        state = result.stream_state(stream)
        assert set(state["parents"]) == live_parents(between.sandbox, stream)
        assert saved_keys(state) == keys(between.sandbox, stream)


# -- reads that end early, or that are told not to ----------------------------------------------------


def test_a_killed_read_keeps_the_saved_keys_of_the_parents_it_had_not_finished(outcome):
    killed = outcome.killed
    assert killed.cut.exit_code != 0, "the read was killed"
    saved = killed.cut.stream_state("campaign_actions")
    first = killed.first.stream_state("campaign_actions")
    unfinished = set(first["parents"]) - set(saved["done"])
    assert saved["done"] and unfinished, "the kill landed mid-fan-out"
    assert of_parents(killed.gone, unfinished), "some deletion was under a parent not yet read"
    assert saved_keys(saved, *unfinished) == saved_keys(first, *unfinished)
    told = tombstone_keys(killed.cut, "campaign_actions")
    assert told <= killed.gone and not of_parents(told, killed.parents), "parents gone are told at the end"


def test_the_resumed_read_emits_the_rest(outcome):
    killed = outcome.killed
    resumed = tombstone_keys(killed.resumed, "campaign_actions")
    assert resumed <= killed.gone
    assert resumed | tombstone_keys(killed.cut, "campaign_actions") == killed.gone
    syncs = [run.records_of("campaign_actions") for run in (killed.first, killed.cut, killed.resumed)]
    table = final_table(syncs, primary_key("campaign_actions"), "updated")
    assert set(table) == keys(killed.sandbox, "campaign_actions")


def test_a_forbidden_stream_emits_none_and_keeps_its_keys_for_the_next_read(outcome):
    assert_refused_then_told(outcome.forbidden, "campaign_actions", "broadcast_actions")


@pytest.mark.parametrize("run_name", ["off", "full_refresh", "old_state"])
def test_no_tombstones_when_switched_off_in_full_refresh_or_from_a_state_without_keys(outcome, run_name):
    off = outcome.off
    assert_told_only_by_default(off, run_name)
    for stream in STREAMS:
        kept = saved_keys(getattr(off, run_name).stream_state(stream))
        assert kept == (keys(off.sandbox, stream) if run_name == "old_state" else set()), (run_name, stream)


# -- what the API may do: shift pages under a deletion, omit an empty list ----------------------------


def test_children_moved_off_the_pages_by_a_deletion_are_not_taken_for_deleted(outcome):
    shifted = outcome.shifted
    actions, variants = shifted.during["campaign_actions"], shifted.during["newsletter_variants"]
    assert actions and variants, "the switches deleted something"
    assert shifted.asked.get("GET /v1/campaigns/{id}/actions/{id}", 0) >= 1
    assert shifted.asked.get("GET /v1/newsletters/{id}", 0) >= 1
    # The actions were listed before they went: told at the next sync. The newsletter went before its
    # contents were asked for (404): its variants are told at once.
    assert tombstones(shifted.second, "campaign_actions") == []
    assert tombstone_keys(shifted.third, "campaign_actions") == actions
    assert tombstone_keys(shifted.second, "newsletter_variants") == variants
    assert tombstones(shifted.third, "newsletter_variants") == []
    for stream in ("campaign_actions", "newsletter_variants"):
        syncs = [run.records_of(stream) for run in (shifted.first, shifted.second, shifted.third)]
        table = final_table(syncs, primary_key(stream), INCREMENTAL[stream])
        assert set(table) == keys(shifted.sandbox, stream), stream


def test_answers_without_their_list_delete_nothing_until_a_list_comes(outcome):
    empty = outcome.empty
    omitted, listed = empty.omitted, empty.listed
    for stream in ("broadcast_actions", "transactional_contents"):
        assert tombstones(omitted, stream) == [], stream
        assert omitted.stream_state(stream) == empty.first.stream_state(stream), stream
        assert tombstone_keys(listed, stream) == empty.everything[stream], stream
    assert any("without its list of actions" in w for w in warnings(omitted))
    assert any("transactional_messages listing carried no list" in w for w in warnings(omitted))
