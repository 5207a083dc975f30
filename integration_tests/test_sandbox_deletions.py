"""The sandbox's deletions: the `delete` mutation, GET /v1/newsletters/{id}, and the two switches that
say how the API may behave around them (`deleted_while_paging`, `empty_list_omits_key`)."""

from __future__ import annotations

import pytest
import requests

from integration_tests.sandbox import Sandbox
from integration_tests.sandbox.data import DELETABLE
from integration_tests.sandbox_client import keys_of, session, walk

WHOLE_LISTS = {
    "broadcasts": ("broadcasts", "broadcasts", "id"),
    "transactional_messages": ("transactional", "messages", "id"),
    "campaigns": ("campaigns", "campaigns", "id"),
    "segments": ("segments", "segments", "id"),
    "snippets": ("snippets", "snippets", "name"),
    "collections": ("collections", "collections", "id"),
}


@pytest.mark.parametrize("stream", list(WHOLE_LISTS))
def test_deleted_records_leave_the_list_and_the_truth(sandbox: Sandbox, stream: str) -> None:
    path, envelope, field = WHOLE_LISTS[stream]
    before = set(sandbox.truth(stream)["keys"])
    deleted = set(sandbox.mutate(stream, "delete", 1)["keys"])
    assert len(deleted) == 1 and deleted <= before
    listed = {str(r[field]) for r in session().get(f"{sandbox.base_url}/{path}").json()[envelope]}
    assert listed == before - deleted
    truth = sandbox.truth(stream)
    assert set(truth["keys"]) == before - deleted and truth["count"] == len(before) - 1


def test_a_deleted_newsletter_leaves_every_listing_order_and_answers_404(sandbox: Sandbox) -> None:
    s = session()
    url = f"{sandbox.base_url}/newsletters"
    before = sandbox.truth("newsletters")["keys"]
    one = s.get(f"{url}/{before[0]}")
    assert one.status_code == 200 and str(one.json()["newsletter"]["id"]) == before[0]
    deleted = sandbox.mutate("newsletters", "delete", 2)["keys"]
    for sort in (None, "asc", "desc"):
        params = {"limit": 2, **({"sort": sort} if sort else {})}
        keys = keys_of(walk(s, url, "newsletters", params=params), "newsletters")
        assert sorted(keys) == sorted(set(before) - set(deleted)), sort
    for key in deleted:
        assert s.get(f"{url}/{key}").status_code == 404
    assert s.get(f"{url}/999999999").status_code == 404


def test_updates_never_pick_a_deleted_record(sandbox: Sandbox) -> None:
    count = sandbox.truth("segments", keys=False)["count"]
    deleted = set(sandbox.mutate("segments", "delete", count - 1)["keys"])
    updated = set(sandbox.mutate("segments", "update", 5)["keys"])
    assert len(deleted) == count - 1 and len(updated) == 1 and not updated & deleted


def test_only_the_listed_streams_can_be_deleted_from(sandbox: Sandbox) -> None:
    for stream in ("messages", "customers", "topics", "exports", "activities", "eps_suppression"):
        answer = requests.post(f"{sandbox.url}/_admin/mutate", json={"stream": stream, "op": "delete"})
        assert answer.status_code == 400, stream
        assert "cannot be deleted from" in answer.text and all(name in answer.text for name in DELETABLE)


def test_deleted_while_paging_moves_the_rest_of_the_list_up(sandbox_factory) -> None:
    sandbox = sandbox_factory(seed=5, size="small", requests_per_second=0)
    sandbox.configure(deleted_while_paging=3)
    before = set(sandbox.truth("newsletters")["keys"])
    pages = walk(session(), f"{sandbox.base_url}/newsletters", "newsletters", params={"limit": 50})
    listed = keys_of(pages, "newsletters")
    after = set(sandbox.truth("newsletters")["keys"])
    assert len(before - after) == 3 and set(listed[:3]) == before - after, "page one's first three went"
    unlisted = after - set(listed)
    assert len(unlisted) == 3, "three records still there were never listed: the next page began 3 later"


@pytest.mark.parametrize(("omit", "answer"), [(False, {"collections": []}), (True, {})])
def test_an_empty_whole_list_may_omit_its_key(sandbox: Sandbox, omit: bool, answer: dict) -> None:
    sandbox.configure(empty_list_omits_key=omit)
    url = f"{sandbox.base_url}/collections"
    assert session().get(url).json()["collections"]
    sandbox.mutate("collections", "delete", sandbox.truth("collections", keys=False)["count"])
    assert session().get(url).json() == answer
