"""The sandbox's own tests, beyond the API: mutations, statistics, customer exports and their
downloads, reproducible seeds, a large sandbox in flat memory, and its command line."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from integration_tests.sandbox import Sandbox
from integration_tests.sandbox_client import ALL_PEOPLE, AUTH, exists, search, session, walk


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
def test_large_sandbox_serves_pages_in_flat_memory(sandbox_factory: Callable[..., Sandbox]) -> None:
    """A million people and a million deliveries cost nothing until a page is asked for: the memory
    Python allocates to build the sandbox and serve 7 requests (its server thread included) stays
    far below what even one field of a million records would take. (Allocations, not the process's
    RSS, which depends on everything the test session did before.)"""
    tracemalloc.start()
    try:
        sb = sandbox_factory(size="large", requests_per_second=0)
        s = session()
        pages = walk_some(s, f"{sb.base_url}/messages", "messages", 5)
        found = s.post(f"{sb.base_url}/customers", params={"limit": 1000}, json={"filter": ALL_PEOPLE})
        ids = [i["cio_id"] for i in found.json()["identifiers"][:100]]
        hydrate = f"{sb.base_url}/customers/attributes"
        people = s.post(hydrate, params={"id_type": "cio_id"}, json={"ids": ids})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(len(p["messages"]) for p in pages) == 5000 and len(people.json()["customers"]) == 100
    truth = requests.get(f"{sb.url}/_admin/truth/customers", params={"keys": "false"}).json()
    assert truth["count"] == 1_000_000 and "keys" not in truth
    assert sb.truth("messages", keys=False)["count"] == 1_000_000
    # A list of a million short strings (one id per person) alone allocates about 60 MiB.
    assert peak < 32 * 2**20, f"{peak / 2**20:.1f} MiB allocated at peak"


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


def test_quirks_are_set_at_start_and_through_the_admin_interface(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    from integration_tests.sandbox import Quirks

    sb = sandbox_factory(size="tiny", requests_per_second=0, quirks=Quirks(end_ts_exclusive=True))
    config = requests.get(f"{sb.url}/_admin/config").json()
    assert config["quirks"]["end_ts_exclusive"] is True
    assert config["quirks"]["export_link_key"] == "url"
    r = requests.post(f"{sb.url}/_admin/config", json={"export_link_key": "link", "hydration_deleted": 2})
    assert r.status_code == 200
    assert sb.world.quirks.export_link_key == "link" and sb.world.quirks.hydration_deleted == 2
    refused = requests.post(f"{sb.url}/_admin/config", json={"no_such_quirk": 1})
    assert refused.status_code == 400 and "no_such_quirk" in refused.text
