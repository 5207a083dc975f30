"""The `/v1` routes: request parsing, page caps, cursors and envelopes, over the lazy data in `data.py`.

Page caps are the documented ones (messages and people search 1000, newsletters / activities / sender
identities 100, suppressions 1000, segment membership 30000); a larger `limit` is clamped, not refused.
`page_size_cap` lowers every cap. Cursors are opaque (urlsafe base64 of a small JSON); the last page has
`"next": ""`. Filters the API accepts but the sandbox ignores: messages' type/metric/campaign_id/...,
activities' type/name/customer_id, newsletters' and sender identities' hidden flag.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .catalog import SUPPRESSION_CATEGORY
from .data import World
from .deliveries import window
from .people import Predicate
from .subresources import SubResources
from .tables import Record, Table
from .util import ApiError, Permutation, decode_cursor, encode_cursor

Payload = dict[str, Any]
SEARCH_SCAN_BUDGET = 200_000  # people examined per search page before a short page is returned


@dataclass
class Req:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def int_arg(self, name: str) -> int | None:
        raw = self.arg(name)
        if raw is None or raw == "":
            return None
        try:
            return int(raw)
        except ValueError as exc:
            raise ApiError(400, f"{name} must be an integer, got {raw!r}") from exc

    def json(self) -> Any:
        try:
            return orjson.loads(self.body or b"{}")
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"request body is not valid JSON: {exc}") from exc


Handler = Callable[[Req, list[str]], Payload]


class Api:
    def __init__(self, world: World, page_size_cap: int | None) -> None:
        self.world = world
        self.page_size_cap = page_size_cap
        self.public_url = ""  # "http://127.0.0.1:PORT", set once the server is bound
        t = world.tables
        simple: list[tuple[str, str, str]] = [
            ("/v1/broadcasts", "broadcasts", "broadcasts"),
            ("/v1/transactional", "transactional_messages", "messages"),
            ("/v1/campaigns", "campaigns", "campaigns"),
            ("/v1/segments", "segments", "segments"),
            ("/v1/exports", "exports", "exports"),
            ("/v1/reporting_webhooks", "reporting_webhooks", "reporting_webhooks"),
            ("/v1/snippets", "snippets", "snippets"),
            ("/v1/collections", "collections", "collections"),
            ("/v1/subscription_topics", "topics", "topics"),
            ("/v1/workspaces", "workspaces", "workspaces"),
            ("/v1/object_types", "types", "types"),
        ]
        self.routes: list[tuple[str, re.Pattern[str], str, Handler]] = []
        for path, stream, envelope in simple:
            self._add("GET", path, self._whole(t[stream], envelope))
        self._add("GET", "/v1/info/ip_addresses", self.ip_addresses)
        self._add("GET", "/v1/newsletters", self._paged(t["newsletters"], "newsletters", 10, 100))
        self._add(
            "GET", "/v1/activities", self._paged(t["activities"], "activities", 10, 100, sortable=False)
        )
        self._add(
            "GET", "/v1/sender_identities", self._paged(t["sender_identities"], "sender_identities", 10, 100)
        )
        self._add("GET", "/v1/messages", self.messages)
        self._add("POST", "/v1/customers", self.search)
        self._add("POST", "/v1/customers/attributes", self.attributes)
        self.sub: SubResources = world.sub
        for template, handler in self.sub.routes(self):
            self._add("GET", template, handler)
        self._add("GET", "/v1/segments/{id}/membership", self.membership)
        self._add("POST", "/v1/exports/customers", self.create_export)
        self._add("GET", "/v1/exports/{id}", self.get_export)
        self._add("GET", "/v1/exports/{id}/download", self.download_link)
        for kind in SUPPRESSION_CATEGORY:  # one route per type, so stats count each type apart
            self._add("GET", f"/v1/esp/suppression/{kind}", self._suppressions(kind))
        self._add("GET", "/v1/esp/suppression/{id}", self._suppressions(None))

    def _add(self, method: str, template: str, handler: Handler) -> None:
        pattern = re.compile("^" + re.escape(template).replace(r"\{id\}", "([^/]+)") + "/?$")
        self.routes.append((method, pattern, template, handler))

    def match(self, method: str, path: str) -> tuple[str, Handler, list[str]] | None:
        for m, pattern, template, handler in self.routes:
            hit = pattern.match(path)
            if hit and m == method:
                return template, handler, list(hit.groups())
        return None

    # paging helpers ------------------------------------------------------------------------------------
    def limit(self, req: Req, default: int, cap: int) -> int:
        if self.page_size_cap:
            cap = min(cap, self.page_size_cap)
        value = req.int_arg("limit")
        if value is None:
            return min(default, cap)
        if value < 1:
            raise ApiError(400, f"limit must be at least 1, got {value}")
        return min(value, cap)

    @staticmethod
    def position(req: Req, kind: str) -> dict[str, Any]:
        start = req.arg("start")
        return decode_cursor(start, kind) if start else {}

    def _whole(self, table: Table, envelope: str) -> Handler:
        def handler(req: Req, _: list[str]) -> Payload:
            return {envelope: list(table.records())}

        return handler

    def _paged(self, table: Table, envelope: str, default: int, cap: int, sortable: bool = True) -> Handler:
        def handler(req: Req, _: list[str]) -> Payload:
            lim = self.limit(req, default, cap)
            state = self.position(req, envelope)
            pos, n = int(state.get("p", 0)), int(state.get("n", table.count))
            sort = req.arg("sort") if sortable else None
            if sort not in (None, "asc", "desc"):
                raise ApiError(400, f"sort must be asc or desc, got {sort!r}")
            end = min(pos + lim, n)
            # "sort" orders by id (index order); without it the list is in its shuffled order.
            if sort == "asc":
                rows = [table.record(k) for k in range(pos, end)]
            elif sort == "desc":
                rows = [table.record(n - 1 - k) for k in range(pos, end)]
            else:
                rows = [table.record(table.at(k)) for k in range(pos, end)]
            nxt = encode_cursor({"k": envelope, "p": end, "n": n}) if end < n else ""
            return {envelope: rows, "next": nxt}

        return handler

    def _parent(self, stream: str, raw_id: str) -> tuple[Table, int]:
        table = self.world.tables[stream]
        index = table.index_of(raw_id)
        if index is None:
            raise ApiError(404, f"{stream.rstrip('s')} {raw_id} not found")
        return table, index

    # routes --------------------------------------------------------------------------------------------
    def ip_addresses(self, req: Req, _: list[str]) -> Payload:
        return {"ip_addresses": [r["id"] for r in self.world.tables["ip_addresses"].records()]}

    def messages(self, req: Req, _: list[str]) -> Payload:
        deliveries = self.world.deliveries
        lim = self.limit(req, 50, 1000)
        state = self.position(req, "messages")
        if state:
            lo, pos = int(state["lo"]), int(state["p"])
        else:
            lo_ts, hi_ts = window(req.int_arg("start_ts"), req.int_arg("end_ts"), int(time.time()))
            lo, pos = deliveries.index_range(lo_ts, hi_ts)
        # Newest first, page by page; the order inside a page is shuffled (the API promises none).
        first = max(lo, pos - lim)
        perm = Permutation(pos - first, self.world.ctx.seed, pos)
        rows = [deliveries.record(pos - 1 - perm(k)) for k in range(pos - first)]
        nxt = encode_cursor({"k": "messages", "lo": lo, "p": first}) if first > lo else ""
        return {"messages": rows, "next": nxt}

    def _scan(self, req: Req, kind: str, predicate: Predicate, default: int, cap: int) -> Payload:
        lim = self.limit(req, default, cap)
        state = self.position(req, kind)
        people = self.world.people
        pos, n = int(state.get("p", 0)), people.count
        found: list[int] = []
        budget = SEARCH_SCAN_BUDGET
        while pos < n and len(found) < lim and budget > 0:
            if predicate(pos):
                found.append(pos)
            pos += 1
            budget -= 1
        identifiers = [people.identity(i) for i in found]
        return {
            "identifiers": identifiers,
            "ids": [ident["id"] or "" for ident in identifiers],
            "next": encode_cursor({"k": kind, "p": pos}) if pos < n else "",
        }

    def search(self, req: Req, _: list[str]) -> Payload:
        body = req.json()
        if not isinstance(body, dict) or "filter" not in body:
            raise ApiError(400, 'body must be {"filter": {...}}')
        predicate = self.world.people.compile(body["filter"], self.world.segment_exists)
        return self._scan(req, "customers", predicate, 50, 1000)

    def membership(self, req: Req, groups: list[str]) -> Payload:
        table, index = self.sub.parent("segments", groups[0])
        sid = table.id_of(index)
        people = self.world.people
        return self._scan(req, f"membership:{sid}", lambda i: people.in_segment(sid, i), 1000, 30000)

    def attributes(self, req: Req, _: list[str]) -> Payload:
        id_type = req.arg("id_type") or "id"
        if id_type not in ("id", "email", "cio_id", "phone"):
            raise ApiError(400, f"id_type must be one of id, email, cio_id, phone; got {id_type!r}")
        body = req.json()
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids:
            raise ApiError(400, 'body must be {"ids": [...]} with 1 to 100 ids')
        if len(ids) > 100:
            raise ApiError(400, f"too many ids: {len(ids)} (maximum 100)")
        people = self.world.people
        out: list[Record] = []
        for raw in ids:
            # Unknown ids are silently left out, as the API does.
            i = None if id_type == "phone" else people.index_of(str(raw), id_type)
            if i is not None:
                rec = people.record(i)
                out.append({"customer": rec} if people.wrapped(i) else rec)
        return {"customers": out}

    def _suppressions(self, fixed: str | None) -> Handler:
        def handler(req: Req, groups: list[str]) -> Payload:
            kind = fixed or groups[0]
            table = self.world.tables.get(f"suppression:{kind}")
            if table is None:
                raise ApiError(404, f"unknown suppression type {kind!r}")
            lim = self.limit(req, 100, 1000)
            offset = req.int_arg("offset") or 0
            if offset < 0:
                raise ApiError(400, "offset must be >= 0")
            rows = [table.record(k) for k in range(offset, min(offset + lim, table.count))]
            return {"category": SUPPRESSION_CATEGORY[kind], "suppressions": rows}

        return handler

    # exports -------------------------------------------------------------------------------------------
    def create_export(self, req: Req, _: list[str]) -> Payload:
        body = req.json()
        if not isinstance(body, dict) or "filters" not in body:
            raise ApiError(400, 'body must be {"filters": {...}}')
        predicate = self.world.people.compile(body["filters"], self.world.segment_exists)
        table = self.world.tables["exports"]
        now = int(time.time())
        index = table.insert(1, now)[0]
        self.world.exports.register(index, body["filters"], predicate, now)
        return {"export": table.record(index)}

    def get_export(self, req: Req, groups: list[str]) -> Payload:
        table, index = self._parent("exports", groups[0])
        self.world.exports.poll(index)
        return {"export": table.record(index)}

    def download_link(self, req: Req, groups: list[str]) -> Payload:
        _, index = self._parent("exports", groups[0])
        if not self.world.exports.is_done(index):
            raise ApiError(400, f"export {groups[0]} is not ready for download")
        token = self.world.exports.token(index, int(time.time()))
        return {"url": f"{self.public_url}/_downloads/{token}"}
