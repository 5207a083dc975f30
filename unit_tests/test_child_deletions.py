"""Deletions in the child streams: each parent's child keys in the state, a tombstone for each child no
longer listed under its parent, and for every child of a parent gone; nothing from what cannot prove it."""

from __future__ import annotations

import re
import time

import pytest
from airbyte_cdk.models import Level, SyncMode
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader
from jsonschema import Draft7Validator

from source_customerio.streams.deletions import decode_keys, encode_keys, rfc3339
from unit_tests.builders import (
    US,
    ConfigBuilder,
    action,
    calls_to,
    error_traces,
    log_lines,
    newsletter,
    page,
    read_stream,
    records_of,
    state,
    states_of,
    variant,
)
from unit_tests.test_children import CHILDREN, serve

T = 1_734_000_000
HOUR = 3600
DELETED_AT = "_ab_cdc_deleted_at"
NOT_FOUND = {"status_code": 404, "json": {"errors": [{"detail": "not found"}]}}
FORBIDDEN = {"status_code": 403, "json": {"errors": [{"detail": "forbidden for this key"}]}}


def child(stream: str, id: int, updated: int = T) -> dict:
    return action(id, updated) if "actions" in stream else variant(id, updated=updated)


def saved(**parents: tuple[int, list[int]]) -> dict:
    """`saved(p1=(cursor, [child ids]))`: the state a complete read of those parents leaves."""
    return {
        "parents": {
            name[1:]: {"updated": cursor, "keys": encode_keys({(c,) for c in ids})}
            for name, (cursor, ids) in parents.items()
        }
    }


def read(stream: str, before: dict | None, mode=SyncMode.incremental, expect_error=False, **config):
    return read_stream(
        ConfigBuilder().with_(**config).build(),
        stream,
        mode,
        state=state(stream, before) if before is not None else None,
        expect_error=expect_error,
    )


def tombstones(output, stream: str) -> list[tuple[int, int]]:
    parent_key = CHILDREN[stream][5]
    return sorted((r[parent_key], r["id"]) for r in records_of(output, stream) if r.get(DELETED_AT))


def keys(output, stream: str) -> dict[str, set[int]]:
    """Each parent's saved child keys in the last state (the parents that have some)."""
    parents = states_of(output, stream)[-1]["parents"]
    return {pid: {k for (k,) in decode_keys(e["keys"])} for pid, e in parents.items() if "keys" in e}


def warned(output, text: str) -> bool:
    return any(text in line for line in log_lines(output, Level.WARN))


def campaign_pages(requests_mock, pid: int, pages: list[list[int]], last: dict | None = None) -> None:
    """/campaigns/{pid}/actions answers `pages` in turn (`next` between them), then `last` if given."""
    answers = [
        {"json": page("actions", [action(a) for a in ids], next=f"p{n + 2}" if n + 1 < len(pages) else "")}
        for n, ids in enumerate(pages)
    ]
    if last is not None:
        answers[-1]["json"]["next"] = "p-last"
        answers.append(last)
    requests_mock.get(f"{US}/campaigns/{pid}/actions", answers)


def action_by_id(requests_mock, answers: dict[tuple[int, int], dict]) -> None:
    """GET /campaigns/{id}/actions/{action_id}: 404 unless `answers` says otherwise."""
    requests_mock.get(re.compile(rf"{re.escape(US)}/campaigns/\d+/actions/\d+$"), **NOT_FOUND)
    for (pid, aid), answer in answers.items():
        requests_mock.get(f"{US}/campaigns/{pid}/actions/{aid}", **answer)


# -- the keys, and the children gone under a parent still there ----------------------------------------


@pytest.mark.parametrize("stream", CHILDREN)
def test_a_first_incremental_read_saves_each_parent_s_keys_and_emits_no_tombstone(stream, requests_mock):
    serve(requests_mock, stream, {1: [child(stream, 11), child(stream, 12)], 2: [child(stream, 21)], 3: []})
    output = read(stream, {"parents": {"1": {"updated": T}}})
    assert tombstones(output, stream) == []
    assert keys(output, stream) == {"1": {11, 12}, "2": {21}, "3": set()}


@pytest.mark.parametrize("stream", CHILDREN)
def test_children_no_longer_listed_come_back_as_tombstones(stream, requests_mock):
    serve(requests_mock, stream, {1: [child(stream, 11)], 2: [child(stream, 21), child(stream, 22)]})
    before = time.time()
    output = read(stream, saved(p1=(T, [11, 12, 13]), p2=(T, [21, 22])))
    assert error_traces(output) == []
    assert tombstones(output, stream) == [(1, 12), (1, 13)]
    parent_key = CHILDREN[stream][5]
    validator = Draft7Validator(ResourceSchemaLoader("source_customerio").get_schema(stream))
    for record in [r for r in records_of(output, stream) if r.get(DELETED_AT)]:
        assert set(record) == {parent_key, "id", "updated", DELETED_AT}
        assert int(before) <= record["updated"] <= time.time() and record["updated"] > T
        assert record[DELETED_AT] == rfc3339(record["updated"])
        validator.validate(record)
    assert keys(output, stream) == {"1": {11}, "2": {21, 22}}


def test_a_deleted_child_is_told_once(requests_mock):
    serve(requests_mock, "broadcast_actions", {1: [action(11)]})
    first = read("broadcast_actions", saved(p1=(T, [11, 12])))
    second = read("broadcast_actions", states_of(first, "broadcast_actions")[-1])
    assert tombstones(first, "broadcast_actions") == [(1, 12)]
    assert tombstones(second, "broadcast_actions") == []


def test_a_tombstone_outranks_the_parent_s_newest_child_when_the_api_clock_is_ahead(requests_mock):
    ahead = int(time.time()) + 3 * HOUR
    serve(requests_mock, "broadcast_actions", {1: [action(11, ahead)]})
    output = read("broadcast_actions", saved(p1=(T, [11, 12])))
    [gone] = [r for r in records_of(output) if r.get(DELETED_AT)]
    assert gone["updated"] == ahead and gone[DELETED_AT] < rfc3339(ahead)


def test_a_child_the_last_read_did_not_list_is_emitted_whatever_its_cursor(requests_mock):
    old = T - 100 * HOUR
    serve(requests_mock, "broadcast_actions", {1: [action(11, old), action(12, old)]})
    output = read("broadcast_actions", saved(p1=(T, [11])))
    assert [r["id"] for r in records_of(output)] == [12], "11 was listed before and is older than the cursor"


# -- parents gone ------------------------------------------------------------------------------------


def test_a_parent_answering_404_takes_all_its_saved_children_with_it(requests_mock):
    serve(requests_mock, "campaign_actions", {1: [action(11)], 2: NOT_FOUND})
    output = read("campaign_actions", saved(p1=(T, [11]), p2=(T, [21, 22])))
    assert tombstones(output, "campaign_actions") == [(2, 21), (2, 22)]
    assert set(states_of(output, "campaign_actions")[-1]["parents"]) == {"1"}
    assert not log_lines(output, Level.WARN)


def test_a_parent_no_longer_listed_takes_all_its_saved_children_with_it(requests_mock):
    serve(requests_mock, "transactional_contents", {1: [variant(11, updated=T)]})
    output = read("transactional_contents", saved(p1=(T, [11]), p3=(T + 5, [31, 32])))
    assert tombstones(output, "transactional_contents") == [(3, 31), (3, 32)]
    assert keys(output, "transactional_contents") == {"1": {11}}
    assert calls_to(requests_mock, "/v1/transactional/3/contents") == [], "a whole listing is its own proof"


def test_a_newsletter_the_paged_listing_left_out_is_asked_for_before_its_variants_are_called_gone(
    requests_mock,
):
    serve(requests_mock, "newsletter_variants", {1: [variant(11)]})
    requests_mock.get(f"{US}/newsletters/2", json={"newsletter": newsletter(2)})
    requests_mock.get(f"{US}/newsletters/3", **NOT_FOUND)
    before = saved(p1=(T, [11]), p2=(T, [21]), p3=(T, [31]))
    output = read("newsletter_variants", before)
    assert tombstones(output, "newsletter_variants") == [(3, 31)]
    assert keys(output, "newsletter_variants") == {"1": {11}, "2": {21}}, "2 still exists: read next time"
    assert calls_to(requests_mock, "/v1/newsletters/2/contents") == []


def test_a_parent_listing_without_its_list_takes_no_parent_for_gone(requests_mock):
    requests_mock.get(f"{US}/campaigns", json={})
    before = saved(p1=(T, [11]), p2=(T, [21]))
    output = read("campaign_actions", before)
    assert tombstones(output, "campaign_actions") == []
    assert states_of(output, "campaign_actions")[-1] == before
    assert warned(output, "an answer of the campaigns listing carried no list")


# -- what cannot prove a deletion --------------------------------------------------------------------


def test_an_answer_without_its_list_keeps_the_parent_s_keys_and_cursor(requests_mock):
    serve(requests_mock, "broadcast_actions", {1: {"json": {}}, 2: [action(21, T + 9)]})
    output = read("broadcast_actions", saved(p1=(T, [11, 12]), p2=(T, [21, 22])))
    assert tombstones(output, "broadcast_actions") == [(2, 22)]
    final = states_of(output, "broadcast_actions")[-1]["parents"]
    assert final["1"]["updated"] == T and keys(output, "broadcast_actions")["1"] == {11, 12}
    assert final["2"]["updated"] == T + 9
    assert warned(output, "/broadcasts/1/actions answered 1 time(s) without its list of actions")


def test_a_parent_read_part_way_keeps_its_keys_and_its_cursor(requests_mock):
    """A 404 after some pages: a page cursor refused, or the campaign deleted meanwhile."""
    serve(requests_mock, "campaign_actions", {1: []})
    campaign_pages(requests_mock, 1, [[11]], last=NOT_FOUND)
    output = read("campaign_actions", saved(p1=(T - HOUR, [11, 12, 13])))
    assert tombstones(output, "campaign_actions") == []
    assert [r["id"] for r in records_of(output)] == [11]
    assert states_of(output, "campaign_actions")[-1]["parents"]["1"]["updated"] == T - HOUR
    assert keys(output, "campaign_actions") == {"1": {11, 12, 13}}
    assert warned(output, "/campaigns/1/actions answered 404 after 1 page(s)")


def test_a_forbidden_stream_emits_nothing_and_keeps_its_state(requests_mock):
    serve(requests_mock, "campaign_actions", {1: FORBIDDEN})
    before = saved(p1=(T, [11, 12]))
    output = read("campaign_actions", before)
    assert records_of(output) == [] and error_traces(output) == []
    assert states_of(output, "campaign_actions")[-1] == before


def test_a_failed_read_emits_no_tombstone_for_the_parents_it_had_not_finished(requests_mock):
    serve(requests_mock, "broadcast_actions", {1: [action(11)], 2: {"status_code": 400, "json": {}}})
    output = read("broadcast_actions", saved(p1=(T, [11]), p2=(T, [21, 22])), expect_error=True)
    assert tombstones(output, "broadcast_actions") == []
    assert error_traces(output)


# -- campaign actions come in pages: a missing one is asked for by id ------------------------------------


def test_an_action_the_pages_left_out_is_asked_for_by_id_and_only_404_is_gone(requests_mock):
    serve(requests_mock, "campaign_actions", {1: []})
    campaign_pages(requests_mock, 1, [[11, 12], [14]])
    moved = {"json": {"action": action(13, T - 50 * HOUR)}}
    action_by_id(requests_mock, {(1, 13): moved})
    output = read("campaign_actions", saved(p1=(T, [11, 12, 13, 14, 15])))
    assert tombstones(output, "campaign_actions") == [(1, 15)]
    live = [r for r in records_of(output) if not r.get(DELETED_AT)]
    assert [(r["campaign_id"], r["id"]) for r in live] == [(1, 11), (1, 12), (1, 14), (1, 13)]
    assert keys(output, "campaign_actions") == {"1": {11, 12, 13, 14}}
    asked = sorted(r.path for r in requests_mock.request_history if re.search(r"/actions/\d+$", r.path))
    assert asked == ["/v1/campaigns/1/actions/13", "/v1/campaigns/1/actions/15"]


@pytest.mark.parametrize(
    ("answer", "warning"),
    [
        ({"json": {"something": "else"}}, "answered without the action"),
        ({"json": {"action": action(99)}}, "answered without the action"),
        (FORBIDDEN, "may not read"),
    ],
    ids=["another shape", "another action", "forbidden"],
)
def test_an_action_the_api_cannot_say_is_gone_is_kept_with_a_warning(answer, warning, requests_mock):
    serve(requests_mock, "campaign_actions", {1: []})
    campaign_pages(requests_mock, 1, [[11], [12]])
    action_by_id(requests_mock, {(1, 13): answer})
    output = read("campaign_actions", saved(p1=(T, [11, 12, 13])))
    assert error_traces(output) == []
    assert tombstones(output, "campaign_actions") == []
    assert keys(output, "campaign_actions") == {"1": {11, 12, 13}}
    assert warned(output, warning)


def test_actions_listed_in_one_page_ask_for_nothing_more(requests_mock):
    serve(requests_mock, "campaign_actions", {1: [action(11)]})
    output = read("campaign_actions", saved(p1=(T, [11, 12])))
    assert tombstones(output, "campaign_actions") == [(1, 12)]
    assert len(requests_mock.request_history) == 2


# -- switched off ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "config"),
    [(SyncMode.incremental, {"emit_deletions": False}), (SyncMode.full_refresh, {})],
    ids=["emit_deletions off", "full refresh"],
)
def test_no_tombstones_and_no_keys_when_switched_off_or_in_full_refresh(mode, config, requests_mock):
    serve(requests_mock, "broadcast_actions", {1: [action(11)]})
    output = read("broadcast_actions", saved(p1=(T, [11, 12]), p2=(T, [21])), mode, **config)
    assert tombstones(output, "broadcast_actions") == []
    assert states_of(output, "broadcast_actions")[-1] == {"parents": {"1": {"updated": T}}}


def test_a_state_from_before_deletions_starts_keeping_keys(requests_mock):
    serve(requests_mock, "broadcast_actions", {1: [action(11)]})
    output = read("broadcast_actions", {"parents": {"1": {"updated": T}, "2": {"updated": T}}})
    assert tombstones(output, "broadcast_actions") == []
    assert keys(output, "broadcast_actions") == {"1": {11}}


def test_unusable_saved_keys_are_warned_about_and_replaced(requests_mock):
    serve(requests_mock, "broadcast_actions", {1: [action(11)]})
    output = read("broadcast_actions", {"parents": {"1": {"updated": T, "keys": {"count": 2}}}})
    assert tombstones(output, "broadcast_actions") == []
    assert warned(output, "are unusable") and keys(output, "broadcast_actions") == {"1": {11}}
