"""The `/v1` routes: request parsing, page caps, cursors and envelopes, over the lazy data in `data.py`.

Page caps are the documented ones (messages and people search 1000, newsletters / activities / sender
identities 100, suppressions 1000, segment membership 30000); a larger `limit` is clamped, not refused.
`page_size_cap` lowers every cap. Cursors are opaque (urlsafe base64 of a small JSON); the last page has
`"next": ""`. Filters the API accepts but the sandbox ignores: messages' type/metric/campaign_id/...,
activities' type/name/customer_id, newsletters' hidden flag. Sender identities leave the hidden ones out
unless `hidden=true` (then all of them, or only the hidden ones: `hidden_senders_listing`); suppressions
take `domain` (one sending domain's list; without it, every suppression once).

Every cursor-paged route goes through `_page`, which applies the paging quirks: empty pages that carry a
`next` (`empty_pages_with_next`), the last page's `next` (`last_page_next`), a last page pointing back to
an earlier cursor (`cursor_loop`), and cursors that expire (`cursor_ttl_seconds`, answered with
`expired_cursor_status`; cursors then carry their issue time). Cursors are positions: a record deleted
before one moves the later ones up (`deleted_while_paging` deletes some as the first page is served). An
empty whole list may answer `{}` (`empty_list_omits_key`). `GET /v1/newsletters/{id}` answers one
newsletter, or 404 once it is deleted.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .catalog import (
    SENDING_DOMAINS,
    SUPPRESSION_CATEGORY,
    domain_count,
    domain_index,
    sender_hidden,
)
from .data import DELETABLE, World
from .deliveries import window
from .people import Predicate
from .subresources import SubResources
from .tables import Table
from .util import ApiError, Permutation, decode_cursor, encode_cursor

Payload = dict[str, Any]
# serve(cursor state) -> (the page without `next`, the state of the following page or None at the end)
Serve = Callable[[dict[str, Any]], tuple[Payload, "dict[str, Any] | None"]]
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
        self._add("GET", "/v1/newsletters/{id}", self.newsletter)
        self._add(
            "GET", "/v1/activities", self._paged(t["activities"], "activities", 10, 100, sortable=False)
        )
        senders = self._paged(t["sender_identities"], "sender_identities", 10, 100, listing=self._senders)
        self._add("GET", "/v1/sender_identities", senders)
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

    def position(self, req: Req, kind: str) -> dict[str, Any]:
        start = req.arg("start")
        if not start:
            return {}
        state = decode_cursor(start, kind)
        quirks = self.world.quirks
        ttl = quirks.cursor_ttl_seconds
        if ttl > 0 and time.time() - float(state.get("t", 0)) > ttl:
            raise ApiError(quirks.expired_cursor_status, f"the start cursor has expired: {start!r}")
        return state

    def cursor(self, state: dict[str, Any]) -> str:
        if self.world.quirks.cursor_ttl_seconds > 0:
            state = {**state, "t": round(time.time(), 3)}
        return encode_cursor(state)

    def _last_next(self) -> Payload:
        form = self.world.quirks.last_page_next
        if form == "absent":
            return {}
        return {"next": None if form == "null" else ""}

    def _page(self, req: Req, kind: str, empty: Payload, serve: Serve) -> Payload:
        """One page of a cursor-paged list, with the paging quirks applied (see the module docstring)."""
        quirks = self.world.quirks
        state = self.position(req, kind)
        if state.get("end"):
            return {**empty, **self._last_next()}
        if quirks.empty_pages_with_next and not state.get("e"):
            # Every page is preceded by an empty one that points at it.
            return {**empty, "next": self.cursor({**state, "k": kind, "e": 1})}
        payload, following = serve(state)
        if following is not None:
            return {**payload, "next": self.cursor({**following, "k": kind})}
        if quirks.cursor_loop:
            _, second = serve({})
            if second is not None:  # back to the cursor the first page gave
                return {**payload, "next": self.cursor({**second, "k": kind})}
        if quirks.empty_pages_with_next:
            return {**payload, "next": self.cursor({"k": kind, "end": 1})}
        return {**payload, **self._last_next()}

    def _whole(self, table: Table, envelope: str) -> Handler:
        def handler(req: Req, _: list[str]) -> Payload:
            rows = list(table.records())
            return {envelope: rows} if rows or not self.world.quirks.empty_list_omits_key else {}

        return handler

    def _senders(self, req: Req) -> Callable[[int], bool]:
        """Which sender identities a request lists (hidden ones only when asked; see the docstring)."""
        if req.arg("hidden") not in ("true", "1"):
            return lambda i: not sender_hidden(i)
        if self.world.quirks.hidden_senders_listing == "only":
            return sender_hidden
        return lambda i: True

    def _paged(
        self,
        table: Table,
        envelope: str,
        default: int,
        cap: int,
        sortable: bool = True,
        listing: Callable[[Req], Callable[[int], bool]] | None = None,
    ) -> Handler:
        def handler(req: Req, _: list[str]) -> Payload:
            lim = self.limit(req, default, cap)
            sort = req.arg("sort") if sortable else None
            if sort not in (None, "asc", "desc"):
                raise ApiError(400, f"sort must be asc or desc, got {sort!r}")
            count = table.count

            # "sort" orders by id (index order); without it the list is in its shuffled order.
            def shown(k: int) -> int:
                return table.at(k, sort)

            if listing is not None:  # a filtered list (small tables only) is materialised
                keep = listing(req)
                kept = [i for i in map(shown, range(count)) if keep(i)]
                count = len(kept)
                shown = kept.__getitem__  # type: ignore[assignment]

            def serve(state: dict[str, Any]) -> tuple[Payload, dict[str, Any] | None]:
                pos, n = int(state.get("p", 0)), int(state.get("n", count))
                end = min(pos + lim, n, count)
                indices = [shown(k) for k in range(pos, end)]
                rows = [table.record(i) for i in indices]
                doomed = self.world.quirks.deleted_while_paging
                if doomed and pos == 0 and table.name in DELETABLE:
                    table.delete_indices(indices[:doomed])
                # A list that lost records since the first page ends where it now ends.
                return {envelope: rows}, ({"p": end, "n": n} if end < min(n, count) else None)

            return self._page(req, envelope, {envelope: []}, serve)

        return handler

    def newsletter(self, req: Req, groups: list[str]) -> Payload:
        table, index = self._parent("newsletters", groups[0])
        return {"newsletter": table.record(index)}

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
        quirks = self.world.quirks
        start_ts, end_ts = req.int_arg("start_ts"), req.int_arg("end_ts")

        def serve(state: dict[str, Any]) -> tuple[Payload, dict[str, Any] | None]:
            if "G" in state:
                span = {k: int(state[k]) for k in ("g", "G", "s", "P")}
                pos = int(state["p"])
            else:
                lo_ts, hi_ts = window(
                    start_ts, end_ts, int(time.time()), quirks.start_ts_exclusive, quirks.end_ts_exclusive
                )
                span = deliveries.window_span(lo_ts, hi_ts)
                pos = span["G"] + span["P"]
            # Newest first, page by page; the order inside a page is shuffled (the API promises none).
            first = max(0, pos - lim)
            perm = Permutation(pos - first, self.world.ctx.seed, pos)
            at = deliveries.in_span
            rows = [deliveries.record(at(span, pos - 1 - perm(k))) for k in range(pos - first)]
            return {"messages": rows}, ({**span, "p": first} if first > 0 else None)

        return self._page(req, "messages", {"messages": []}, serve)

    def _scan(self, req: Req, kind: str, predicate: Predicate, default: int, cap: int) -> Payload:
        lim = self.limit(req, default, cap)
        people = self.world.people

        def serve(state: dict[str, Any]) -> tuple[Payload, dict[str, Any] | None]:
            pos, n = int(state.get("p", 0)), people.count
            found: list[int] = []
            budget = SEARCH_SCAN_BUDGET
            while pos < n and len(found) < lim and budget > 0:
                if predicate(pos):
                    found.append(pos)
                pos += 1
                budget -= 1
            identifiers = [people.identity(i) for i in found]
            page = {"identifiers": identifiers, "ids": [ident["id"] or "" for ident in identifiers]}
            return page, ({"p": pos} if pos < n else None)

        return self._page(req, kind, {"identifiers": [], "ids": []}, serve)

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
        return {"customers": self.world.people.hydrate(ids, id_type)}

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
            domain = req.arg("domain")
            unknown = self.world.quirks.unknown_domain_status
            if domain and domain not in SENDING_DOMAINS and unknown != 200:
                raise ApiError(unknown, f"{domain} is not a sending domain of this workspace")
            if domain:  # one sending domain's list
                count = domain_count(domain, table.count)
                ks = range(offset, min(offset + lim, count))
                rows = [table.record(domain_index(domain, k)) for k in ks]
            else:
                rows = [table.record(k) for k in range(offset, min(offset + lim, table.count))]
            return {"category": SUPPRESSION_CATEGORY[kind], "suppressions": rows}

        return handler

    # exports -------------------------------------------------------------------------------------------
    def create_export(self, req: Req, _: list[str]) -> Payload:
        body = req.json()
        if not isinstance(body, dict) or "filters" not in body:
            raise ApiError(400, 'body must be {"filters": {...}}')
        attributes = body.get("attributes")
        if attributes is not None and not (
            isinstance(attributes, list) and all(isinstance(a, str) for a in attributes)
        ):
            raise ApiError(400, "attributes must be a list of attribute names")
        predicate = self.world.people.compile(body["filters"], self.world.segment_exists)
        table = self.world.tables["exports"]
        now = int(time.time())
        index = table.insert(1, now)[0]
        self.world.exports.register(index, body["filters"], attributes, predicate, now)
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
        # The OpenAPI document says `url`; customerio-node's comment says `link` (quirk export_link_key).
        return {self.world.quirks.export_link_key: f"{self.public_url}/_downloads/{token}"}
