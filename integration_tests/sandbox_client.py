"""The sandbox's API as a client sees it: an authorised session, cursor walks and people searches.

Shared by the sandbox's own tests (test_sandbox_*.py).
"""

from __future__ import annotations

from typing import Any

import requests

from integration_tests.sandbox import SANDBOX_API_KEY, Sandbox

AUTH = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}
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


def search(sb: Sandbox, flt: dict[str, Any]) -> list[dict[str, Any]]:
    pages = walk(session(), f"{sb.base_url}/customers", "identifiers", "POST", json={"filter": flt})
    return [i for p in pages for i in p["identifiers"]]


def exists(field: str) -> dict[str, Any]:
    return {"attribute": {"field": field, "operator": "exists"}}
