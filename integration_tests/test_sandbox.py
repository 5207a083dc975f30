"""The sandbox's own tests: it must behave like the Customer.io App API, over real sockets."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from integration_tests.sandbox import SANDBOX_API_KEY, Faults, Sandbox

AUTH = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}
DAY = 86_400
SIX_MONTHS = 183 * DAY
ALL_PEOPLE = {"attribute": {"field": "cio_id", "operator": "exists"}}


def session() -> requests.Session:
    s = requests.Session()
    s.headers.update(AUTH)
    return s


Page = dict[str, Any]


def walk(s: requests.Session, url: str, envelope: str, method: str = "GET", **kw: Any) -> list[Page]:
    """Follow `next` cursors; returns the pages' JSON bodies."""
    params = dict(kw.pop("params", {}))
    pages = []
    while True:
        r = s.request(method, url, params=params, **kw)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body)
        assert isinstance(body["next"], str)
        if not body["next"]:
            return pages
        assert body[envelope], "a page with a next cursor must not be empty here"
        params["start"] = body["next"]
        assert len(pages) < 10_000


def keys_of(pages: list[dict[str, Any]], envelope: str, field: str = "id") -> list[str]:
    return [str(rec[field]) for page in pages for rec in page[envelope]]


# paging ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "stream", "envelope"),
    [
        ("newsletters", "newsletters", "newsletters"),
        ("activities", "activities", "activities"),
        ("sender_identities", "sender_identities", "sender_identities"),
    ],
)
def test_cursor_paged_lists_match_truth(sandbox: Sandbox, path: str, stream: str, envelope: str) -> None:
    pages = walk(session(), f"{sandbox.base_url}/{path}", envelope, params={"limit": 100})
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
def search(sb: Sandbox, flt: dict[str, Any]) -> list[dict[str, Any]]:
    pages = walk(session(), f"{sb.base_url}/customers", "identifiers", "POST", json={"filter": flt})
    return [i for p in pages for i in p["identifiers"]]


def exists(field: str) -> dict[str, Any]:
    return {"attribute": {"field": field, "operator": "exists"}}


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


# auth, rate limit, faults, scopes --------------------------------------------------------------------------
def test_bad_keys_get_401(sandbox: Sandbox) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": SANDBOX_API_KEY}):
        r = requests.get(f"{sandbox.base_url}/campaigns", headers=headers)
        assert r.status_code == 401
        assert r.json()["errors"][0]["status"] == "401"
    assert requests.get(f"{sandbox.url}/_admin/stats").status_code == 200
    assert sandbox.stats()["by_status"]["401"] == 3


def test_rate_limit_sliding_window(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(requests_per_second=10.0)
    s = session()
    statuses, retry_after = [], set()
    for _ in range(30):
        r = s.get(f"{sb.base_url}/workspaces")
        statuses.append(r.status_code)
        if r.status_code == 429:
            retry_after.add(r.headers.get("Retry-After"))
            assert r.json() == {"errors": [{"detail": "rate limited to 10 requests per 1s", "status": "429"}]}
    assert 429 in statuses and statuses.count(200) <= 10 * 2
    assert retry_after == {"1"}
    stats = sb.stats()
    assert stats["served_429"] == statuses.count(429)
    assert stats["max_admitted_in_one_second"] <= 10
    sb.configure(retry_after_missing=1.0)
    r = s.get(f"{sb.base_url}/workspaces")
    while r.status_code != 429:
        r = s.get(f"{sb.base_url}/workspaces")
    assert "Retry-After" not in r.headers


FAULT_KINDS = [
    "error_500",
    "error_502",
    "connection_reset",
    "truncated_json",
    "html_error",
    "slow",
    "burst_429",
]


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_at_probability_one(sandbox_factory: Callable[..., Sandbox], kind: str) -> None:
    faults = Faults(burst_429=2) if kind == "burst_429" else Faults(**{kind: 1.0}, slow_seconds=0.3)
    sb = sandbox_factory(requests_per_second=0, faults=faults)
    s, url = session(), f"{sb.base_url}/campaigns"
    started = time.monotonic()
    if kind == "connection_reset":
        with pytest.raises(requests.ConnectionError):
            s.get(url)
    else:
        r = s.get(url)
        if kind == "error_500":
            assert r.status_code == 500 and r.json()["errors"][0]["status"] == "500"
        elif kind == "error_502":
            assert r.status_code == 502 and r.headers["Content-Type"].startswith("text/html")
        elif kind == "truncated_json":
            assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(r.content)
            with pytest.raises(ValueError):
                r.json()
        elif kind == "html_error":
            assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
        elif kind == "slow":
            assert r.status_code == 200 and time.monotonic() - started >= 0.3
        else:
            assert r.status_code == 429
            assert [s.get(url).status_code for _ in range(2)] == [429, 200]
    # admin routes are never faulted
    assert requests.get(f"{sb.url}/_admin/truth/campaigns").json()["count"] == 5


def test_faults_are_reproducible(sandbox_factory: Callable[..., Sandbox]) -> None:
    runs = []
    for _ in range(2):
        sb = sandbox_factory(requests_per_second=0, faults=Faults(error_500=0.3, error_502=0.2))
        runs.append([session().get(f"{sb.base_url}/segments").status_code for _ in range(20)])
    assert runs[0] == runs[1] and {500, 502, 200} <= set(runs[0])


def test_forbidden_paths_and_latency(sandbox: Sandbox) -> None:
    s = session()
    sandbox.configure(forbidden_paths=["/v1/esp/suppression"], latency_ms=150)
    started = time.monotonic()
    r = s.get(f"{sandbox.base_url}/esp/suppression/bounces")
    assert r.status_code == 403 and "required scopes" in r.json()["errors"][0]["detail"]
    assert time.monotonic() - started >= 0.15
    assert s.get(f"{sandbox.base_url}/campaigns").status_code == 200
    requests.post(f"{sandbox.url}/_admin/config", json={"forbidden_paths": [], "latency_ms": 0})
    assert s.get(f"{sandbox.base_url}/esp/suppression/bounces").status_code == 200


# mutations, stats, exports ---------------------------------------------------------------------------------
def test_mutations(sandbox: Sandbox) -> None:
    before = sandbox.truth("campaigns")
    out = sandbox.mutate("campaigns", "update", 2)
    after = sandbox.truth("campaigns")
    assert after["max_cursor"] > before["max_cursor"] and after["max_cursor"] == out["cursor"]
    campaigns = session().get(f"{sandbox.base_url}/campaigns").json()["campaigns"]
    changed = [c for c in campaigns if c["updated"] == out["cursor"]]
    assert sorted(str(c["id"]) for c in changed) == sorted(out["keys"])
    assert all(c["deduplicate_id"].endswith(f":{out['cursor']}") for c in changed)
    inserted = {}
    for stream in ("customers", "messages", "snippets", "broadcasts"):
        count = sandbox.truth(stream, keys=False)["count"]
        r = requests.post(f"{sandbox.url}/_admin/mutate", json={"stream": stream, "op": "insert", "count": 3})
        assert r.status_code == 200 and len(r.json()["keys"]) == 3
        inserted[stream] = set(r.json()["keys"])
        truth = sandbox.truth(stream)
        assert truth["count"] == count + 3 and inserted[stream] <= set(truth["keys"])
    # inserted deliveries have created = now, so the default window (latest 6 months) has them
    latest = walk(session(), f"{sandbox.base_url}/messages", "messages")
    assert inserted["messages"] <= {m["id"] for p in latest for m in p["messages"]}
    assert sandbox.mutate("messages", "update", 1)["keys"]
    no_cursor = requests.post(f"{sandbox.url}/_admin/mutate", json={"stream": "topics", "op": "update"})
    assert no_cursor.status_code == 400


def test_stats_count_by_endpoint_and_reset(sandbox: Sandbox) -> None:
    s = session()
    s.get(f"{sandbox.base_url}/campaigns/15/actions")
    s.get(f"{sandbox.base_url}/campaigns/16/actions")
    s.get(f"{sandbox.base_url}/nope")
    stats = requests.get(f"{sandbox.url}/_admin/stats").json()
    assert stats["by_endpoint"]["GET /v1/campaigns/{id}/actions"] == 2
    assert stats["total"] == 3 and stats["by_status"] == {"200": 2, "404": 1}
    requests.post(f"{sandbox.url}/_admin/reset_stats")
    assert sandbox.stats()["total"] == 0


def test_export_walks_to_done_and_downloads_without_auth(sandbox: Sandbox) -> None:
    s = session()
    flt = exists("email")
    r = s.post(f"{sandbox.base_url}/exports/customers", json={"filters": flt})
    export = r.json()["export"]
    assert export["status"] == "pending"
    assert export["id"] in [e["id"] for e in s.get(f"{sandbox.base_url}/exports").json()["exports"]]
    assert s.get(f"{sandbox.base_url}/exports/{export['id']}/download").status_code == 400
    polls = 0
    while export["status"] != "done":
        polls += 1
        assert polls < 20
        export = s.get(f"{sandbox.base_url}/exports/{export['id']}").json()["export"]
    url = s.get(f"{sandbox.base_url}/exports/{export['id']}/download").json()["url"]
    assert url.startswith(f"{sandbox.url}/_downloads/")
    csv_text = requests.get(url).text  # no Authorization header
    lines = csv_text.splitlines()
    assert lines[0].startswith("cio_id,id,email,created_at,")
    expected = search(sandbox, flt)
    assert len(lines) - 1 == export["total"] == len(expected)
    assert {line.split(",")[0] for line in lines[1:]} == {p["cio_id"] for p in expected}
    stats = sandbox.stats()
    assert stats["download_requests"] == 1 and stats["download_requests_with_authorization"] == 0
    assert requests.get(url + "x").status_code == 403
    assert requests.get(url, headers=AUTH).status_code == 200
    assert sandbox.stats()["download_requests_with_authorization"] == 1


def test_same_seed_same_data(sandbox_factory: Callable[..., Sandbox]) -> None:
    a = sandbox_factory(seed=5, requests_per_second=0, now=1_760_000_000)
    b = sandbox_factory(seed=5, requests_per_second=0, now=1_760_000_000)
    c = sandbox_factory(seed=6, requests_per_second=0, now=1_760_000_000)
    pages = [session().get(f"{x.base_url}/newsletters").json() for x in (a, b, c)]
    assert pages[0] == pages[1] != pages[2]
    assert a.truth("messages") == b.truth("messages")


# scale -----------------------------------------------------------------------------------------------------
def vm_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_large_sandbox_serves_pages_in_flat_memory(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(size="large", requests_per_second=0)
    s = session()
    started = time.monotonic()
    pages = walk_some(s, f"{sb.base_url}/messages", "messages", 5)
    found = s.post(f"{sb.base_url}/customers", params={"limit": 1000}, json={"filter": ALL_PEOPLE})
    search_page = found.json()
    ids = [i["cio_id"] for i in search_page["identifiers"][:100]]
    people = s.post(f"{sb.base_url}/customers/attributes", params={"id_type": "cio_id"}, json={"ids": ids})
    elapsed = time.monotonic() - started
    assert sum(len(p["messages"]) for p in pages) == 5000 and len(people.json()["customers"]) == 100
    truth = requests.get(f"{sb.url}/_admin/truth/customers", params={"keys": "false"}).json()
    assert truth["count"] == 1_000_000 and "keys" not in truth
    assert sb.truth("messages", keys=False)["count"] == 1_000_000
    rss = vm_rss_mb()
    print(f"\nlarge: 7 requests (5 x 1000 deliveries, search, hydrate) in {elapsed:.2f}s; VmRSS {rss:.0f} MB")
    assert rss < 300


def walk_some(s: requests.Session, url: str, envelope: str, n: int) -> list[dict[str, Any]]:
    pages, params = [], {"limit": 1000}
    for _ in range(n):
        body = s.get(url, params=params).json()
        pages.append(body)
        params["start"] = body["next"]
    return pages


def test_cli_serves_until_interrupted() -> None:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [sys.executable, "-m", "integration_tests.sandbox", "--port", "0", "--rps", "0"]
    cmd += ["--api-key", "demo"]
    proc = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        base_url = line.strip()
        assert base_url.endswith("/v1")
        r = requests.get(f"{base_url}/campaigns", headers={"Authorization": "Bearer demo"}, timeout=5)
        assert r.status_code == 200 and r.json()["campaigns"]
    finally:
        proc.terminate()
        proc.wait(timeout=5)
