"""Deletions as CDC tombstones: the keys an incremental read keeps, and the records of keys gone."""

from __future__ import annotations

import base64
import re
import time
import zlib
from datetime import datetime, timezone

import pytest
from airbyte_cdk.models import Level, SyncMode
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader
from jsonschema import Draft7Validator

from source_customerio.streams.deletions import decode_keys, encode_keys
from unit_tests.builders import (
    ENDPOINTS,
    US,
    ConfigBuilder,
    broadcast,
    calls_to,
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

T = 1_734_000_000
HOUR = 3600
DELETED_AT = "_ab_cdc_deleted_at"

# stream -> (cursor field, factory(key, cursor) -> record, key of record n)
DELETING = {
    "broadcasts": ("updated", broadcast, lambda n: n),
    "transactional_messages": ("updated_at", transactional_message, lambda n: n),
    "campaigns": ("updated", campaign, lambda n: n),
    "newsletters": ("updated", newsletter, lambda n: n),
    "segments": ("updated_at", segment, lambda n: n),
    "snippets": ("updated_at", snippet, lambda n: f"s{n}"),
    "collections": ("updated_at", collection, lambda n: n),
}


# -- the keys in the state -----------------------------------------------------------------------


def unpack(blob: dict, kind: str) -> str:
    """The text inside a saved key set, decoded by hand."""
    return zlib.decompress(base64.b64decode(blob[kind])).decode()


def test_integer_ids_are_saved_as_the_differences_between_the_sorted_ids():
    blob = encode_keys({(8,), (5,), (105,), (7,)})
    assert blob["count"] == 4
    assert unpack(blob, "int_deltas") == "5,2,1,97"


def test_other_keys_are_saved_as_sorted_json_lines():
    blob = encode_keys({("b",), ("a",), ("ü",)})
    assert blob["count"] == 3
    assert unpack(blob, "json_lines") == '["a"]\n["b"]\n["ü"]'


@pytest.mark.parametrize(
    "keys",
    [
        set(),
        {(1,)},
        {(n,) for n in range(128_270, 133_270)},
        {(-5,), (0,), (3,), (1_000_000_007,)},
        {("footer",), ("header",), ("a name with spaces, and ünïcode",)},
        {(7, 1), (7, 2), (9, 1)},
        {("1",), (1,)},  # a string id and an integer id are not the same key
    ],
    ids=["empty", "one", "5,000 dense", "signed and sparse", "names", "composite", "mixed types"],
)
def test_a_key_set_comes_back_as_saved(keys):
    assert decode_keys(encode_keys(keys)) == keys


def test_the_same_keys_give_the_same_blob_whatever_their_order():
    assert encode_keys([(3,), (1,), (2,)]) == encode_keys({(1,), (2,), (3,)})


@pytest.mark.parametrize(
    "blob",
    [
        None,
        "abc",
        [1, 2],
        {},
        {"count": "2", "int_deltas": encode_keys({(1,), (2,)})["int_deltas"]},
        {"count": True},
        {"count": 3, "int_deltas": encode_keys({(1,), (2,)})["int_deltas"]},  # count disagrees
        {"count": 2, "int_deltas": "not base64!"},
        {"count": 2, "int_deltas": base64.b64encode(b"not zlib").decode()},
        {"count": 1, "json_lines": base64.b64encode(zlib.compress(b"[[1, 2]]")).decode()},  # unhashable
        {"count": 1, "other": "x"},
    ],
)
def test_an_unusable_blob_is_refused(blob):
    assert decode_keys(blob) is None


# -- one read after another ----------------------------------------------------------------------


def gone_by_id(requests_mock) -> None:
    """GET /newsletters/{id} answers 404 (the newsletter does not exist), unless told otherwise after."""
    not_found = {"errors": [{"detail": "The newsletter you requested does not exist."}]}
    requests_mock.get(re.compile(rf"{re.escape(US)}/newsletters/\d+$"), status_code=404, json=not_found)


def serve(requests_mock, stream: str, numbers: list[int], cursor: int = T) -> None:
    method, path, envelope, _ = ENDPOINTS[stream]
    _, factory, key = DELETING[stream]
    records = [factory(key(n), cursor) for n in numbers]
    requests_mock.register_uri(method, f"{US}/{path}", json={envelope: records})
    gone_by_id(requests_mock)


def read(stream: str, saved=None, mode=SyncMode.incremental, config=None, expect_error=False):
    return read_stream(
        config or ConfigBuilder().build(),
        stream,
        mode,
        state=state(stream, saved) if saved is not None else None,
        expect_error=expect_error,
    )


def saved_keys(output, stream: str):
    final = states_of(output, stream)[-1]
    return decode_keys(final["keys"]) if "keys" in final else None


def tombstones(output, stream: str) -> list[dict]:
    return [r for r in records_of(output, stream) if r.get(DELETED_AT) is not None]


def first_read(requests_mock, stream: str, numbers: list[int]) -> dict:
    """The state a first incremental read of `numbers` leaves (checked to emit no tombstone)."""
    serve(requests_mock, stream, numbers)
    output = read(stream, {DELETING[stream][0]: T - HOUR})
    assert tombstones(output, stream) == []
    return states_of(output, stream)[-1]


def utc(unix: int) -> str:
    return datetime.fromtimestamp(unix, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("stream", DELETING)
def test_a_first_incremental_read_saves_its_keys_and_emits_no_tombstone(stream, requests_mock):
    saved = first_read(requests_mock, stream, [1, 2, 3])
    key = DELETING[stream][2]
    assert decode_keys(saved["keys"]) == {(key(1),), (key(2),), (key(3),)}
    assert saved[DELETING[stream][0]] == T


@pytest.mark.parametrize("stream", DELETING)
def test_keys_no_longer_listed_come_back_as_tombstones(stream, requests_mock):
    cursor, _, key = DELETING[stream]
    saved = first_read(requests_mock, stream, [1, 2, 3, 4])
    serve(requests_mock, stream, [1, 3])
    before = int(time.time())
    output = read(stream, saved)
    after = int(time.time())
    assert error_traces(output) == []
    dead = tombstones(output, stream)
    field = ENDPOINTS[stream][3][0]
    assert sorted(str(t[field]) for t in dead) == sorted(str(key(n)) for n in (2, 4))
    for record in dead:
        assert set(record) == {field, cursor, DELETED_AT}, "a tombstone holds the key and the cursor only"
        assert before <= record[cursor] <= after, "the cursor of a tombstone is the read time"
        assert record[DELETED_AT] == utc(record[cursor])
        Draft7Validator(ResourceSchemaLoader("source_customerio").get_schema(stream)).validate(record)
    assert saved_keys(output, stream) == {(key(1),), (key(3),)}


def test_a_deleted_key_is_told_once(requests_mock):
    saved = first_read(requests_mock, "campaigns", [1, 2])
    serve(requests_mock, "campaigns", [1])
    second = read("campaigns", saved)
    third = read("campaigns", states_of(second, "campaigns")[-1])
    assert [t["id"] for t in tombstones(second, "campaigns")] == [2]
    assert tombstones(third, "campaigns") == []


def test_a_tombstone_outranks_the_last_record_when_the_api_clock_is_ahead(requests_mock):
    """Dedup keeps the latest cursor: a tombstone never carries a cursor older than one already read."""
    ahead = int(time.time()) + HOUR
    serve(requests_mock, "campaigns", [1, 2], cursor=ahead)
    saved = states_of(read("campaigns", {"updated": T}), "campaigns")[-1]
    serve(requests_mock, "campaigns", [1], cursor=ahead)
    output = read("campaigns", saved)
    assert [(t["id"], t["updated"]) for t in tombstones(output, "campaigns")] == [(2, ahead)]


def test_a_key_the_last_read_did_not_list_is_emitted_whatever_its_cursor(requests_mock):
    saved = first_read(requests_mock, "segments", [1])
    old = T - 100 * HOUR  # far behind the saved cursor and its lookback
    requests_mock.get(f"{US}/segments", json={"segments": [segment(1, T), segment(2, old)]})
    output = read("segments", saved)
    assert [r["id"] for r in records_of(output, "segments")] == [1, 2]


def test_the_last_read_s_keys_are_not_emitted_again_when_old(requests_mock):
    saved = first_read(requests_mock, "segments", [1, 2])
    requests_mock.get(f"{US}/segments", json={"segments": [segment(1, T), segment(2, T - 100 * HOUR)]})
    assert [r["id"] for r in records_of(read("segments", saved), "segments")] == [1]


def test_full_refresh_emits_no_tombstone_and_keeps_no_keys(requests_mock):
    saved = first_read(requests_mock, "campaigns", [1, 2, 3])
    serve(requests_mock, "campaigns", [1])
    output = read("campaigns", saved, mode=SyncMode.full_refresh)
    assert [r["id"] for r in records_of(output, "campaigns")] == [1]
    assert saved_keys(output, "campaigns") is None


def test_emit_deletions_off_emits_no_tombstone_and_keeps_no_keys(requests_mock):
    saved = first_read(requests_mock, "campaigns", [1, 2, 3])
    serve(requests_mock, "campaigns", [1])
    output = read("campaigns", saved, config=ConfigBuilder().with_(emit_deletions=False).build())
    assert [r["id"] for r in records_of(output, "campaigns")] == [1]
    assert saved_keys(output, "campaigns") is None


def test_a_state_from_before_deletions_reads_and_starts_keeping_keys(requests_mock):
    serve(requests_mock, "campaigns", [1, 2])
    output = read("campaigns", {"updated": T - HOUR})
    assert tombstones(output, "campaigns") == []
    assert saved_keys(output, "campaigns") == {(1,), (2,)}


def test_exports_keep_no_keys(requests_mock):
    """Exports leave the list by age, not by deletion: no keys and no tombstones for them."""
    requests_mock.get(f"{US}/exports", json={"exports": [export(1)]})
    output = read("exports", {"updated_at": T})
    assert [r["id"] for r in records_of(output, "exports")] == [1]
    assert all("keys" not in s for s in states_of(output, "exports"))


def test_a_forbidden_stream_emits_nothing_and_keeps_its_state(requests_mock):
    saved = first_read(requests_mock, "collections", [1, 2])
    requests_mock.get(f"{US}/collections", status_code=403, json={"errors": [{"detail": "no collections"}]})
    output = read("collections", saved)
    assert records_of(output, "collections") == []
    assert states_of(output, "collections")[-1] == saved


def test_a_failed_read_emits_no_tombstone(requests_mock):
    saved = first_read(requests_mock, "snippets", [1, 2])
    requests_mock.get(f"{US}/snippets", status_code=422, json={"errors": [{"detail": "nope"}]})
    output = read("snippets", saved, expect_error=True)
    assert records_of(output, "snippets") == []
    assert all(s == saved for s in states_of(output, "snippets"))


@pytest.mark.parametrize("answer", [{}, {"snippets": None}])
def test_an_answer_without_its_list_infers_no_deletion_and_keeps_the_keys(answer, requests_mock):
    saved = first_read(requests_mock, "snippets", [1, 2])
    requests_mock.get(f"{US}/snippets", json=answer)
    output = read("snippets", saved)
    assert records_of(output, "snippets") == []
    assert saved_keys(output, "snippets") == {("s1",), ("s2",)}
    assert any("carried no list" in line for line in log_lines(output, Level.WARN))


@pytest.mark.parametrize("keys", ["abc", {"count": 9, "int_deltas": "eJwzAAAAMgAy"}])
def test_unusable_saved_keys_are_warned_about_and_replaced(keys, requests_mock):
    serve(requests_mock, "campaigns", [1])
    output = read("campaigns", {"updated": T, "keys": keys})
    assert tombstones(output, "campaigns") == []
    assert saved_keys(output, "campaigns") == {(1,)}
    assert any("saved keys=" in line and "unusable" in line for line in log_lines(output, Level.WARN))


# -- a paged list: keys saved after each page, a pass resumed, keys asked for by id ----------------


def serve_newsletters(requests_mock, pages: dict, single: dict | None = None) -> None:
    """`pages[start] = ([id, ...], next)`; `single[id]` answers GET /newsletters/{id} (404 by default)."""

    def listing(request, context):
        ids, following = pages[query(request).get("start")]
        return page("newsletters", [newsletter(n, T) for n in ids], next=following)

    requests_mock.get(f"{US}/newsletters", json=listing)
    gone_by_id(requests_mock)
    for n, answer in (single or {}).items():
        requests_mock.get(f"{US}/newsletters/{n}", **answer)


def newsletters_saved(ids: set[int], **resume) -> dict:
    saved = {"updated": T, "keys": encode_keys({(n,) for n in ids})}
    return {**saved, "resume": resume} if resume else saved


def test_a_paged_list_saves_the_last_read_s_keys_and_the_keys_seen_so_far_after_each_page(requests_mock):
    serve_newsletters(requests_mock, {None: ([1, 2], "p2"), "p2": ([3], "p3"), "p3": ([5], None)})
    saved = newsletters_saved({1, 2, 3, 4})
    output = read("newsletters", saved)
    states = states_of(output, "newsletters")
    assert [decode_keys(s["resume"]["keys"]) for s in states[:2]] == [{(1,), (2,)}, {(1,), (2,), (3,)}]
    assert all(s["keys"] == saved["keys"] for s in states[:2]), "the last complete read's keys stay"
    assert decode_keys(states[-1]["keys"]) == {(1,), (2,), (3,), (5,)} and "resume" not in states[-1]
    assert [t["id"] for t in tombstones(output, "newsletters")] == [4]


def test_a_resumed_pass_counts_the_keys_seen_before_the_interruption(requests_mock):
    serve_newsletters(requests_mock, {"p3": ([5], None)})
    saved = newsletters_saved({1, 2, 3, 4}, start="p3", highest=T, keys=encode_keys({(1,), (3,)}))
    output = read("newsletters", saved)
    assert [t["id"] for t in tombstones(output, "newsletters")] == [2, 4]
    assert saved_keys(output, "newsletters") == {(1,), (3,), (5,)}


def test_a_pass_resumed_from_a_state_without_keys_infers_nothing_and_saves_none(requests_mock):
    serve_newsletters(requests_mock, {"p3": ([5], None)})
    output = read("newsletters", newsletters_saved({1, 2}, start="p3", highest=T))
    assert tombstones(output, "newsletters") == []
    assert saved_keys(output, "newsletters") is None


def test_a_key_the_pages_left_out_but_the_api_still_has_is_emitted_not_deleted(requests_mock):
    """A deletion before a positional `next` cursor shifts a later record onto a page already read."""
    moved = newsletter(2, T - 100 * HOUR)
    single = {2: {"json": {"newsletter": moved}}}
    serve_newsletters(requests_mock, {None: ([1], "p2"), "p2": ([3], None)}, single)
    output = read("newsletters", newsletters_saved({1, 2, 3, 4}))
    assert [t["id"] for t in tombstones(output, "newsletters")] == [4]
    assert [r["id"] for r in records_of(output, "newsletters") if DELETED_AT not in r] == [1, 3, 2]
    assert saved_keys(output, "newsletters") == {(1,), (2,), (3,)}
    asked = [r.url for r in requests_mock.request_history if r.path.startswith("/v1/newsletters/")]
    assert sorted(asked) == [f"{US}/newsletters/2", f"{US}/newsletters/4"]


@pytest.mark.parametrize(
    ("answer", "warning"),
    [
        ({"json": {"something": "else"}}, "answered without the newsletter"),
        ({"json": {"newsletter": newsletter(99)}}, "answered without the newsletter"),
        ({"status_code": 403, "json": {"errors": [{"detail": "no"}]}}, "may not read"),
    ],
    ids=["another shape", "another newsletter", "forbidden"],
)
def test_a_key_the_api_cannot_say_is_gone_is_kept_with_a_warning(answer, warning, requests_mock):
    serve_newsletters(requests_mock, {None: ([1], None)}, {2: answer})
    output = read("newsletters", newsletters_saved({1, 2}))
    assert error_traces(output) == []
    assert tombstones(output, "newsletters") == []
    assert saved_keys(output, "newsletters") == {(1,), (2,)}
    assert any(warning in line for line in log_lines(output, Level.WARN))


def test_lists_read_in_one_answer_ask_for_nothing_more(requests_mock):
    saved = first_read(requests_mock, "broadcasts", [1, 2])
    serve(requests_mock, "broadcasts", [1])
    output = read("broadcasts", saved)
    assert [t["id"] for t in tombstones(output, "broadcasts")] == [2]
    assert len(calls_to(requests_mock, "/v1/broadcasts")) == 2 and len(requests_mock.request_history) == 2
