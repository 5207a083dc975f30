"""The sandbox's own tests, its data: every list pages as the Customer.io App API does (cursors,
offsets, clamped limits, the deliveries' 6-month window), people filters are evaluated, and what it
serves matches its ground truth, over real sockets."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from integration_tests.sandbox import Sandbox
from integration_tests.sandbox_client import ALL_PEOPLE, exists, keys_of, search, session, walk

DAY = 86_400
SIX_MONTHS = 183 * DAY


# paging ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "stream", "envelope", "params"),
    [
        ("newsletters", "newsletters", "newsletters", {}),
        ("activities", "activities", "activities", {}),
        # hidden=true lists every sender, hidden ones included (the default hidden_senders_listing)
        ("sender_identities", "sender_identities", "sender_identities", {"hidden": "true"}),
    ],
)
def test_cursor_paged_lists_match_truth(
    sandbox: Sandbox, path: str, stream: str, envelope: str, params: dict[str, str]
) -> None:
    pages = walk(session(), f"{sandbox.base_url}/{path}", envelope, params={"limit": 100, **params})
    keys = keys_of(pages, envelope)
    assert len(pages) >= 2
    assert len(keys) == len(set(keys))
    assert sorted(keys) == sorted(sandbox.truth(stream)["keys"])


def test_activities_come_newest_first(sandbox: Sandbox) -> None:
    pages = walk(session(), f"{sandbox.base_url}/activities", "activities")
    stamps = [a["timestamp"] for p in pages for a in p["activities"]]
    assert stamps == sorted(stamps, reverse=True)
    assert all(isinstance(a["id"], str) and len(a["id"]) == 26 for p in pages for a in p["activities"])


def test_people_search_pages_and_matches_truth(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_url}/customers"
    pages = walk(session(), url, "identifiers", "POST", json={"filter": ALL_PEOPLE})
    assert len(pages) >= 2
    cio_ids = keys_of(pages, "identifiers", "cio_id")
    assert len(cio_ids) == len(set(cio_ids))
    assert sorted(cio_ids) == sorted(sandbox.truth("customers")["keys"])
    for page in pages:
        assert page["ids"] == [i["id"] or "" for i in page["identifiers"]]


def test_messages_walked_in_windows_match_truth(sandbox: Sandbox) -> None:
    truth = sandbox.truth("messages")
    s, seen, windows = session(), [], []
    lo = truth["min_cursor"]
    while lo <= truth["max_cursor"]:
        hi = lo + 180 * DAY - 1
        pages = walk(s, f"{sandbox.base_url}/messages", "messages", params={"start_ts": lo, "end_ts": hi})
        windows.append(keys_of(pages, "messages"))
        lo = hi + 1
    seen = [k for w in windows for k in w]
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(truth["keys"])
    non_empty = [bool(w) for w in windows]
    assert sum(non_empty) >= 4
    assert False in non_empty[1:-1], "a window in the middle must be empty"
    # the default window (latest 6 months) alone spans several pages at tiny
    assert len(walk(s, f"{sandbox.base_url}/messages", "messages")) >= 2


def test_suppressions_page_by_offset(sandbox: Sandbox) -> None:
    s, keys = session(), []
    for kind in ("bounces", "blocks", "spam_reports", "invalid_emails"):
        offset, pages = 0, 0
        while True:
            r = s.get(f"{sandbox.base_url}/esp/suppression/{kind}", params={"limit": 100, "offset": offset})
            body = r.json()
            assert set(body) == {"category", "suppressions"}
            rows = body["suppressions"]
            pages += 1
            keys += [f"{kind}|{row['email']}" for row in rows]
            if len(rows) < 3:  # the tiny page cap
                break
            offset += len(rows)
        assert pages >= 2
    assert sorted(keys) == sorted(sandbox.truth("eps_suppression")["keys"])
    emails = [k.split("|")[1] for k in keys]
    assert len(emails) > len(set(emails)), "some addresses must be suppressed under several types"
    assert s.get(f"{sandbox.base_url}/esp/suppression/nope").status_code == 404


def test_sub_resources_page_and_404(sandbox: Sandbox) -> None:
    s = session()
    campaign = next(c for c in s.get(f"{sandbox.base_url}/campaigns").json()["campaigns"] if c["id"] == 15)
    pages = walk(s, f"{sandbox.base_url}/campaigns/15/actions", "actions")
    assert len(pages) >= 2
    assert keys_of(pages, "actions") == [str(a["id"]) for a in campaign["actions"]]
    members = walk(s, f"{sandbox.base_url}/segments/7/membership", "identifiers")
    assert len(members) >= 2
    assert s.get(f"{sandbox.base_url}/broadcasts/2/actions").json()["actions"]
    assert s.get(f"{sandbox.base_url}/newsletters/128270/contents").json()["contents"]
    missing = (
        "campaigns/999/actions",
        "broadcasts/999/actions",
        "newsletters/1/contents",
        "segments/1/membership",
    )
    for path in missing:
        r = s.get(f"{sandbox.base_url}/{path}")
        assert r.status_code == 404
        assert r.json()["errors"][0]["status"] == "404"


UNPAGED = [
    ("broadcasts", "broadcasts", "broadcasts"),
    ("transactional", "transactional_messages", "messages"),
    ("campaigns", "campaigns", "campaigns"),
    ("segments", "segments", "segments"),
    ("exports", "exports", "exports"),
    ("reporting_webhooks", "reporting_webhooks", "reporting_webhooks"),
    ("snippets", "snippets", "snippets"),
    ("collections", "collections", "collections"),
    ("subscription_topics", "topics", "topics"),
    ("workspaces", "workspaces", "workspaces"),
    ("object_types", "types", "types"),
]


@pytest.mark.parametrize(("path", "stream", "envelope"), UNPAGED)
def test_unpaged_lists_match_truth(sandbox: Sandbox, path: str, stream: str, envelope: str) -> None:
    body = session().get(f"{sandbox.base_url}/{path}").json()
    assert set(body) == {envelope}
    truth = sandbox.truth(stream)
    field = truth["primary_key"][0]
    assert sorted(str(r[field]) for r in body[envelope]) == sorted(truth["keys"])


def test_ip_addresses_and_type_drift(sandbox: Sandbox) -> None:
    s = session()
    ips = s.get(f"{sandbox.base_url}/info/ip_addresses").json()["ip_addresses"]
    assert all(isinstance(ip, str) for ip in ips)
    assert sorted(ips) == sorted(sandbox.truth("ip_addresses")["keys"])
    campaigns = s.get(f"{sandbox.base_url}/campaigns").json()["campaigns"]
    assert {type(c["id"]) for c in campaigns} == {int, str}
    broadcasts = s.get(f"{sandbox.base_url}/broadcasts").json()["broadcasts"]
    assert any(b["tags"] == "nil" for b in broadcasts)
    assert all(isinstance(w["id"], str) for w in s.get(f"{sandbox.base_url}/workspaces").json()["workspaces"])
    assert all(isinstance(t["id"], str) for t in s.get(f"{sandbox.base_url}/object_types").json()["types"])
    deliveries = [m for p in walk(s, f"{sandbox.base_url}/messages", "messages") for m in p["messages"]]
    assert all(isinstance(m["id"], str) and isinstance(m["created"], int) for m in deliveries)


def test_limits_are_clamped_not_refused(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(size="small", requests_per_second=0)
    s = session()
    assert len(s.get(f"{sb.base_url}/messages", params={"limit": 5000}).json()["messages"]) == 1000
    assert len(s.get(f"{sb.base_url}/activities", params={"limit": 500}).json()["activities"]) == 100
    assert len(s.get(f"{sb.base_url}/newsletters", params={"limit": 500}).json()["newsletters"]) == 100
    r = s.post(f"{sb.base_url}/customers", params={"limit": 5000}, json={"filter": ALL_PEOPLE})
    assert len(r.json()["identifiers"]) == 1000
    r = s.get(f"{sb.base_url}/esp/suppression/bounces", params={"limit": 5000})
    assert len(r.json()["suppressions"]) == 300
    sb.configure(page_size_cap=7)
    assert len(s.get(f"{sb.base_url}/messages", params={"limit": 1000}).json()["messages"]) == 7
    assert s.get(f"{sb.base_url}/messages", params={"limit": "x"}).status_code == 400
    assert s.get(f"{sb.base_url}/messages", params={"start": "garbage"}).status_code == 400


# deliveries' 6-month window --------------------------------------------------------------------------------
def created_in(s: requests.Session, sb: Sandbox, **params: int) -> list[int]:
    pages = walk(s, f"{sb.base_url}/messages", "messages", params={"limit": 1000, **params})
    return [m["created"] for p in pages for m in p["messages"]]


def test_messages_six_month_rules(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(size="small", requests_per_second=0)
    s, truth = session(), sb.truth("messages")
    first, last = truth["min_cursor"], truth["max_cursor"]
    now = int(time.time())
    everything = created_in(s, sb, start_ts=first, end_ts=first + 1)  # warm-up: inclusive tiny window
    assert everything == [first]
    latest = created_in(s, sb)
    assert latest and min(latest) >= now - SIX_MONTHS - 5
    only_end = created_in(s, sb, end_ts=last - 10 * DAY)
    assert only_end and all(last - 10 * DAY - SIX_MONTHS <= c <= last - 10 * DAY for c in only_end)
    only_start = created_in(s, sb, start_ts=first)
    assert only_start and max(only_start) <= first + SIX_MONTHS
    both_wide = created_in(s, sb, start_ts=first, end_ts=last)
    assert sorted(both_wide) == sorted(only_start), "more than 6 months apart: the 6 months from start_ts"
    assert len(both_wide) < truth["count"]
    assert created_in(s, sb, start_ts=first + 300 * DAY, end_ts=first + 479 * DAY) == []


# people ----------------------------------------------------------------------------------------------------
def test_filters_are_evaluated(sandbox: Sandbox) -> None:
    everyone = sandbox.truth("customers")["keys"]
    with_id = search(sandbox, exists("id"))
    assert 0 < len(with_id) < len(everyone), "id exists must miss email-only people"
    assert all(p["id"] for p in with_id)
    any_id = search(sandbox, {"or": [exists("id"), exists("email"), exists("cio_id")]})
    assert sorted(p["cio_id"] for p in any_id) == sorted(everyone)
    email_only = search(sandbox, {"and": [exists("email"), {"not": exists("id")}]})
    assert email_only and all(p["id"] is None for p in email_only)
    assert len(with_id) + len(email_only) == len(everyone)
    pro = search(sandbox, {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}})
    one = search(sandbox, {"attribute": {"field": "cio_id", "operator": "eq", "value": everyone[3]}})
    assert [p["cio_id"] for p in one] == [everyone[3]]
    assert len(pro) < len(everyone)
    assert len(search(sandbox, {"segment": {"id": 7}})) < len(everyone)
    r = session().post(f"{sandbox.base_url}/customers", json={"filter": {"bogus": {}}})
    assert r.status_code == 400


def test_attributes_shapes_and_limits(sandbox: Sandbox) -> None:
    s, url = session(), f"{sandbox.base_url}/customers/attributes"
    cio_ids = sandbox.truth("customers")["keys"]
    r = s.post(url, params={"id_type": "cio_id"}, json={"ids": [*cio_ids, "39999999"]})
    items = r.json()["customers"]
    assert len(items) == len(cio_ids), "unknown ids are silently omitted"
    wrapped = [i["customer"] for i in items if "customer" in i]
    flat = [i for i in items if "customer" not in i]
    assert wrapped and flat
    for person in wrapped + flat:
        assert set(person) >= {"identifiers", "attributes", "timestamps", "unsubscribed", "devices"}
        ident = person["identifiers"]
        assert person["attributes"]["cio_id"] == ident["cio_id"]
        assert all(isinstance(v, str) for v in person["attributes"].values())
        if ident["email"]:
            assert person["attributes"]["email"] == ident["email"]
    by_email = s.post(url, params={"id_type": "email"}, json={"ids": ["person1@example.com", "x@y.z"]})
    assert len(by_email.json()["customers"]) == 1
    by_id = s.post(url, json={"ids": ["1", "2"]})  # person 2 (index 1) is email-only: "2" is nobody's id
    assert len(by_id.json()["customers"]) == 1
    assert s.post(url, json={"ids": [str(i) for i in range(101)]}).status_code == 400
