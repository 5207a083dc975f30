"""The sandbox's deletions: the `delete` mutation (of list records, with their sub-resources, and of
child records), GET /v1/newsletters/{id} and GET /v1/campaigns/{id}/actions/{id}, and the switches that
say how the API may behave around them (`deleted_while_paging`, `actions_deleted_while_paging`,
`empty_list_omits_key`)."""

from __future__ import annotations

import pytest
import requests

from integration_tests.sandbox import Sandbox
from integration_tests.sandbox.data import DELETABLE
from integration_tests.sandbox.subresources import CHILD_STREAMS, DELETABLE_CHILDREN
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
    cannot = ("messages", "customers", "topics", "exports", "activities", "eps_suppression")
    for stream in (*cannot, "segment_memberships", "campaign_metrics", "campaign_action_metrics"):
        answer = requests.post(f"{sandbox.url}/_admin/mutate", json={"stream": stream, "op": "delete"})
        assert answer.status_code == 400, stream
        names = (*DELETABLE, *DELETABLE_CHILDREN)
        assert "cannot be deleted from" in answer.text and all(name in answer.text for name in names)


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


@pytest.mark.parametrize("omit", [False, True])
@pytest.mark.parametrize(
    ("stream", "path", "envelope"),
    [("collections", "collections", "collections"), ("broadcast_actions", "broadcasts/2/actions", "actions")],
)
def test_an_empty_whole_list_may_omit_its_key(
    sandbox: Sandbox, omit: bool, stream: str, path: str, envelope: str
) -> None:
    sandbox.configure(empty_list_omits_key=omit)
    url = f"{sandbox.base_url}/{path}"
    assert session().get(url).json()[envelope]
    sandbox.mutate(stream, "delete", sandbox.truth(stream, keys=False)["count"])
    assert session().get(url).json() == ({} if omit else {envelope: []})


# -- child records, and parents with their children --------------------------------------------------

CHILD_ROUTES = {
    "campaign_actions": ("campaigns/{}/actions", "actions"),
    "broadcast_actions": ("broadcasts/{}/actions", "actions"),
    "newsletter_variants": ("newsletters/{}/contents", "contents"),
    "transactional_contents": ("transactional/{}/contents", "contents"),
}


def children_listed(sandbox: Sandbox, stream: str, parent: str) -> set[str]:
    """`parent|child` of the children the parent's route lists (every page)."""
    path, envelope = CHILD_ROUTES[stream]
    url = f"{sandbox.base_url}/{path.format(parent)}"
    pages = walk(session(), url, envelope) if stream == "campaign_actions" else [session().get(url).json()]
    return {f"{parent}|{key}" for key in keys_of(pages, envelope)}


@pytest.mark.parametrize("stream", DELETABLE_CHILDREN)
def test_deleted_children_leave_their_parent_s_list_and_the_truth(sandbox: Sandbox, stream: str) -> None:
    before = set(sandbox.truth(stream)["keys"])
    deleted = set(sandbox.mutate(stream, "delete", 2)["keys"])
    assert len(deleted) == 2 and deleted <= before
    assert set(sandbox.truth(stream)["keys"]) == before - deleted
    parents = {key.split("|")[0] for key in before}
    listed = set().union(*(children_listed(sandbox, stream, parent) for parent in parents))
    assert listed == before - deleted


def test_a_deleted_action_answers_404_by_id_and_leaves_its_metrics(sandbox: Sandbox) -> None:
    s = session()
    (gone,) = sandbox.mutate("campaign_actions", "delete", 1)["keys"]
    live = sorted(sandbox.truth("campaign_actions")["keys"])[0]
    by_id = f"{sandbox.base_url}/campaigns/{{}}/actions/{{}}"
    answer = s.get(by_id.format(*live.split("|")))
    assert answer.status_code == 200 and str(answer.json()["action"]["id"]) == live.split("|")[1]
    assert s.get(by_id.format(*gone.split("|"))).status_code == 404
    assert s.get(by_id.format(live.split("|")[0], 999_999)).status_code == 404
    metrics = f"{by_id.format(*gone.split('|'))}/metrics"
    assert s.get(metrics, params={"version": "1"}).status_code == 404
    assert not [k for k in sandbox.truth("campaign_action_metrics")["keys"] if k.startswith(f"{gone}|")]
    assert [k for k in sandbox.truth("campaign_action_metrics")["keys"] if k.startswith(f"{live}|")]


@pytest.mark.parametrize("stream", DELETABLE_CHILDREN)
def test_a_deleted_parent_takes_its_children_with_it(sandbox: Sandbox, stream: str) -> None:
    before = set(sandbox.truth(stream)["keys"])
    (parent,) = sandbox.mutate(CHILD_STREAMS[stream], "delete", 1)["keys"]
    theirs = {key for key in before if key.split("|")[0] == parent}
    assert theirs, "the parent had children"
    assert set(sandbox.truth(stream)["keys"]) == before - theirs
    path, _ = CHILD_ROUTES[stream]
    assert session().get(f"{sandbox.base_url}/{path.format(parent)}").status_code == 404


def test_actions_deleted_while_paging_move_the_rest_of_a_campaign_s_actions_up(sandbox: Sandbox) -> None:
    sandbox.configure(actions_deleted_while_paging=1)
    before = set(sandbox.truth("campaign_actions")["keys"])
    campaign = "15"  # five actions: two pages at the tiny sandbox's cap of three
    listed = children_listed(sandbox, "campaign_actions", campaign)
    after = set(sandbox.truth("campaign_actions")["keys"])
    (deleted,) = before - after
    assert deleted.startswith(f"{campaign}|") and deleted in listed, "page one's first action went"
    unlisted = {key for key in after if key.startswith(f"{campaign}|")} - listed
    assert len(unlisted) == 1, "an action still there was never listed: page two began one later"
