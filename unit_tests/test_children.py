"""The tables under the tables: one request chain per parent, the parent's id in every record, a
cursor per parent, resumable passes, and deleted parents skipped."""

from __future__ import annotations

import logging

import pytest
from airbyte_cdk.models import FailureType, Level, SyncMode

from unit_tests.builders import (
    US,
    ConfigBuilder,
    action,
    broadcast,
    calls_to,
    campaign,
    error_traces,
    identifier,
    log_lines,
    newsletter,
    page,
    query,
    read_stream,
    records_of,
    segment,
    state,
    states_of,
    transactional_message,
    variant,
)

T = 1_734_000_000
HOUR = 3600
FORBIDDEN = {"status_code": 403, "json": {"errors": [{"detail": "forbidden for this key"}]}}
# stream -> (parent list path, its records key, parent factory, the children's path, their key, parent key)
CHILDREN = {
    "campaign_actions": (
        "campaigns", "campaigns", campaign, "campaigns/{}/actions", "actions", "campaign_id"
    ),
    "broadcast_actions": (
        "broadcasts", "broadcasts", broadcast, "broadcasts/{}/actions", "actions", "broadcast_id"
    ),
    "newsletter_variants": (
        "newsletters", "newsletters", newsletter, "newsletters/{}/contents", "contents", "newsletter_id"
    ),
    "transactional_contents": (
        "transactional", "messages", transactional_message, "transactional/{}/contents", "contents",
        "transactional_message_id",
    ),
}  # fmt: skip


def serve(requests_mock, stream: str, children: dict[int, list | dict]) -> None:
    """The parent list holds one parent per key of `children`; each parent's endpoint answers its
    list of children (one page), or the requests_mock arguments given as a dict."""
    list_path, list_key, factory, path, key, _ = CHILDREN.get(stream, CHILDREN["campaign_actions"])
    requests_mock.get(f"{US}/{list_path}", json={list_key: [factory(pid) for pid in children]})
    for pid, answer in children.items():
        kwargs = answer if isinstance(answer, dict) else {"json": page(key, answer)}
        requests_mock.get(f"{US}/{path.format(pid)}", **kwargs)


def cursors(blob: dict) -> dict:
    """A child stream's state without the keys it keeps for deletions (test_child_deletions.py)."""
    parents = {pid: {k: v for k, v in entry.items() if k != "keys"} for pid, entry in blob["parents"].items()}
    return {**blob, "parents": parents}


def incremental(stream: str, saved: dict, config=None, expect_error=False):
    return read_stream(
        config or ConfigBuilder().build(),
        stream,
        SyncMode.incremental,
        state=state(stream, saved),
        expect_error=expect_error,
    )


@pytest.mark.parametrize("stream", CHILDREN)
def test_each_parent_is_asked_for_its_children_and_its_id_is_added(stream, requests_mock):
    child = action if "actions" in stream else variant
    serve(requests_mock, stream, {1: [child(11), child(12)], 2: [child(21)], 3: []})
    output = read_stream(ConfigBuilder().build(), stream)
    assert error_traces(output) == []
    parent_key = CHILDREN[stream][5]
    assert sorted((r[parent_key], r["id"]) for r in records_of(output)) == [(1, 11), (1, 12), (2, 21)]
    path = CHILDREN[stream][3]
    for pid in (1, 2, 3):
        [request] = calls_to(requests_mock, f"/v1/{path.format(pid)}")
        assert query(request) == {}


def test_campaign_actions_follow_next_into_start(requests_mock):
    requests_mock.get(f"{US}/campaigns", json={"campaigns": [campaign(5)]})
    requests_mock.get(
        f"{US}/campaigns/5/actions",
        [
            {"json": page("actions", [action(51), action(52)], next="page-2")},
            {"json": page("actions", [action(53)], next="")},
        ],
    )
    output = read_stream(ConfigBuilder().build(), "campaign_actions")
    assert [r["id"] for r in records_of(output)] == [51, 52, 53]
    first, second = calls_to(requests_mock, "/v1/campaigns/5/actions")
    assert (query(first), query(second)) == ({}, {"start": "page-2"})


def test_a_parent_id_sent_as_a_string_is_an_integer_in_the_child(requests_mock):
    requests_mock.get(f"{US}/campaigns", json={"campaigns": [campaign("17")]})
    requests_mock.get(f"{US}/campaigns/17/actions", json=page("actions", [action(1701)]))
    [record] = records_of(read_stream(ConfigBuilder().build(), "campaign_actions"))
    assert (record["campaign_id"], record["id"]) == (17, 1701)


def test_incremental_keeps_a_cursor_per_parent_and_reads_a_new_parent_whole(requests_mock):
    serve(
        requests_mock,
        "campaign_actions",
        {
            1: [action(11, updated=T - HOUR - 1), action(12, updated=T - HOUR), action(13, updated=T + 5)],
            2: [action(21, updated=T - 10 * HOUR)],  # a parent the last sync did not see
        },
    )
    output = incremental("campaign_actions", {"parents": {"1": {"updated": T}}})
    assert sorted(r["id"] for r in records_of(output)) == [12, 13, 21]
    assert cursors(states_of(output, "campaign_actions")[-1]) == {
        "parents": {"1": {"updated": T + 5}, "2": {"updated": T - 10 * HOUR}}
    }


def test_a_full_refresh_ignores_the_cursors_but_keeps_them(requests_mock):
    serve(requests_mock, "campaign_actions", {1: [action(11, updated=T - 10 * HOUR)]})
    saved = state("campaign_actions", {"parents": {"1": {"updated": T}}})
    output = read_stream(ConfigBuilder().build(), "campaign_actions", state=saved)
    assert [r["id"] for r in records_of(output)] == [11]
    assert states_of(output, "campaign_actions")[-1] == {"parents": {"1": {"updated": T}}}


def test_start_date_drops_older_children(requests_mock):
    serve(requests_mock, "campaign_actions", {1: [action(11, updated=T - 2 * 86_400), action(12, updated=T)]})
    output = read_stream(ConfigBuilder().with_start_date("2024-12-11").build(), "campaign_actions")
    assert [r["id"] for r in records_of(output)] == [12]


def test_children_without_the_cursor_are_always_emitted(requests_mock):
    """Newsletter variants have no `updated` in the documented object: an incremental read re-reads them."""
    serve(requests_mock, "newsletter_variants", {4: [variant(41), variant(42, updated=T - 10 * HOUR)]})
    output = incremental("newsletter_variants", {"parents": {"4": {"updated": T}}})
    assert [r["id"] for r in records_of(output)] == [41]
    assert cursors(states_of(output, "newsletter_variants")[-1]) == {"parents": {"4": {"updated": T}}}


def test_a_parent_deleted_mid_sync_is_skipped_with_a_debug_line(requests_mock, caplog):
    caplog.set_level(logging.DEBUG, logger="airbyte")
    gone = {"status_code": 404, "json": {"errors": [{"detail": "not found"}]}}
    serve(requests_mock, "campaign_actions", {1: [action(11)], 2: gone, 3: [action(31)]})
    output = read_stream(
        ConfigBuilder().build(), "campaign_actions", SyncMode.incremental,
        state=state("campaign_actions", {"parents": {"2": {"updated": T}}}),
    )  # fmt: skip
    assert error_traces(output) == []
    assert sorted(r["id"] for r in records_of(output)) == [11, 31]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("/campaigns/2/actions answered 404" in line for line in debug), debug
    assert not log_lines(output, Level.WARN)
    # The deleted parent's cursor is forgotten.
    assert set(states_of(output, "campaign_actions")[-1]["parents"]) == {"1", "3"}


def test_a_403_on_the_children_skips_the_stream_with_a_warning(requests_mock):
    """As every stream: refused before any record was read, the stream is skipped (a refusal part-way
    would fail it, see test_streams)."""
    serve(requests_mock, "campaign_actions", {1: FORBIDDEN, 2: FORBIDDEN})
    requests_mock.get(f"{US}/broadcasts", json={"broadcasts": [broadcast(1)]})
    output = read_stream(ConfigBuilder().build(), ["campaign_actions", "broadcasts"])
    assert error_traces(output) == []
    warnings = [w for w in log_lines(output, Level.WARN) if "'campaign_actions' skipped" in w]
    assert warnings and "/campaigns/1/actions" in warnings[0] and "forbidden for this key" in warnings[0]
    assert len(records_of(output, "broadcasts")) == 1


def test_a_resumed_pass_skips_the_parents_already_done(requests_mock):
    serve(requests_mock, "campaign_actions", {1: [action(11)], 2: [action(21)], 3: [action(31)]})
    saved = {"parents": {"1": {"updated": T}, "2": {"updated": T}}, "done": ["1", "2"]}
    output = incremental("campaign_actions", saved)
    assert [r["id"] for r in records_of(output)] == [31]
    assert calls_to(requests_mock, "/v1/campaigns/1/actions") == []
    assert calls_to(requests_mock, "/v1/campaigns/2/actions") == []
    # The pass ends: `done` goes, every parent keeps its cursor.
    assert cursors(states_of(output, "campaign_actions")[-1]) == {
        "parents": {"1": {"updated": T}, "2": {"updated": T}, "3": {"updated": T}}
    }


def test_a_state_follows_each_group_of_ten_parents_and_says_which_are_done(requests_mock):
    serve(requests_mock, "campaign_actions", {pid: [action(pid * 10)] for pid in range(1, 26)})
    output = read_stream(ConfigBuilder().build(), "campaign_actions")
    blobs = states_of(output, "campaign_actions")
    done = [blob["done"] for blob in blobs if "done" in blob]
    assert done[:2] == [[str(p) for p in range(1, 11)], [str(p) for p in range(1, 21)]]
    assert "done" not in blobs[-1] and len(blobs[-1]["parents"]) == 25
    assert len(records_of(output)) == 25


@pytest.mark.parametrize(
    "saved",
    [{"parents": [1, 2]}, {"parents": {"1": 5}}, {"done": "1"}, {"parents": {}, "done": [1]}],
)
def test_an_unusable_state_is_ignored_with_a_warning(saved, requests_mock):
    serve(requests_mock, "campaign_actions", {1: [action(11, updated=T - 10 * HOUR)]})
    output = incremental("campaign_actions", saved)
    assert [r["id"] for r in records_of(output)] == [11]
    assert any("is unusable" in w for w in log_lines(output, Level.WARN))


def test_segment_memberships_page_by_30000_and_end_complete(requests_mock):
    requests_mock.get(f"{US}/segments", json={"segments": [segment(7)]})
    people = [identifier("3000001", "p1", "p1@example.com"), identifier("3000002", None, "e@example.com")]
    requests_mock.get(
        f"{US}/segments/7/membership",
        [
            {"json": page("identifiers", people[:1], ids=["p1"], next="n2")},
            {"json": page("identifiers", people[1:], ids=[""], next="")},
        ],
    )
    output = read_stream(ConfigBuilder().build(), "segment_memberships")
    assert [(r["segment_id"], r["cio_id"], r.get("id")) for r in records_of(output)] == [
        (7, "3000001", "p1"),
        (7, "3000002", None),
    ]
    first, second = calls_to(requests_mock, "/v1/segments/7/membership")
    assert (query(first), query(second)) == ({"limit": "30000"}, {"limit": "30000", "start": "n2"})
    assert states_of(output, "segment_memberships")[-1] == {"__ab_full_refresh_sync_complete": True}


def test_a_member_without_cio_id_stops_the_read(requests_mock):
    requests_mock.get(f"{US}/segments", json={"segments": [segment(7)]})
    requests_mock.get(f"{US}/segments/7/membership", json=page("identifiers", [{"id": "p1", "email": None}]))
    output = read_stream(ConfigBuilder().build(), "segment_memberships", expect_error=True)
    error = error_traces(output)[0]
    assert error.failure_type == FailureType.system_error
    assert "/segments/7/membership listed an item without its 'cio_id'" in error.message
