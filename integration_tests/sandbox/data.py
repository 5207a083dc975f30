"""The sandbox's world: sizes, every stream's lazy data, ground truth and mutations.

Sizes: `tiny` has a handful of records per stream and a page cap of 3, so every paged endpoint needs two
pages or more; `small` has ~1,000 people and ~2,000 deliveries, no page cap; `large` has 1,000,000 people and
1,000,000 deliveries, generated on demand (nothing per-record is stored except mutations).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

from .catalog import SUPPRESSION_TYPES, build_tables, domain_count, domain_index, sender_hidden
from .deliveries import Deliveries
from .exports import Exports
from .people import People
from .quirks import Quirks
from .subresources import DELETABLE_CHILDREN, SubResources
from .subresources import PRIMARY_KEYS as SUB_PRIMARY_KEYS
from .subresources import STREAMS as SUB_STREAMS
from .tables import Ctx, Table
from .util import ApiError

_COMMON = ("broadcasts", "transactional_messages", "campaigns", "newsletters", "segments", "exports")
# fmt: off
_SIZE_FIELDS = (
    "people", "deliveries", "broadcasts", "transactional_messages", "campaigns", "newsletters", "segments",
    "exports", "activities", "sender_identities", "reporting_webhooks", "snippets", "ip_addresses",
    "collections", "topics", "workspaces", "types", "suppressions",
)
_SIZE_ROWS = {
    "tiny": (12, 16, 4, 3, 5, 7, 4, 3, 8, 5, 2, 3, 4, 2, 3, 2, 2, 8),
    "small": (1_000, 2_000, 20, 15, 40, 120, 25, 10, 500, 30, 5, 12, 8, 6, 5, 3, 4, 300),
    "large": (1_000_000, 1_000_000, 200, 100, 1_000, 5_000, 300, 50, 200_000, 500, 20, 100, 16, 50, 20, 5, 10,
              100_000),
}
STREAMS = (
    "broadcasts", "transactional_messages", "messages", "customers", "campaigns", "newsletters", "segments",
    "exports", "activities", "sender_identities", "reporting_webhooks", "snippets", "ip_addresses",
    "collections", "topics", "workspaces", "types", "eps_suppression", *SUB_STREAMS,
)
# fmt: on
SIZES = {size: dict(zip(_SIZE_FIELDS, row, strict=True)) for size, row in _SIZE_ROWS.items()}
DEFAULT_PAGE_CAP: dict[str, int | None] = {"tiny": 3, "small": None, "large": None}
PRIMARY_KEYS: dict[str, list[str]] = {s: ["id"] for s in STREAMS}
PRIMARY_KEYS.update(customers=["cio_id"], snippets=["name"], eps_suppression=["suppression_type", "email"])
PRIMARY_KEYS.update(SUB_PRIMARY_KEYS)
# The lists whose records the `delete` mutation removes (they leave the list, the truth and their routes;
# a deleted parent's sub-resources go with it). Child records can be deleted too: DELETABLE_CHILDREN.
DELETABLE = (
    "broadcasts",
    "transactional_messages",
    "campaigns",
    "newsletters",
    "segments",
    "snippets",
    "collections",
)


class World:
    def __init__(
        self,
        seed: int,
        size: str,
        *,
        people: int | None = None,
        deliveries: int | None = None,
        now: int | None = None,
        quirks: Quirks | None = None,
        counts: dict[str, int] | None = None,
    ) -> None:
        if size not in SIZES:
            raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
        unknown = set(counts or {}) - set(SIZES[size])
        if unknown:
            raise ValueError(f"unknown count(s) {sorted(unknown)}; known: {sorted(SIZES[size])}")
        counts = {**SIZES[size], **(counts or {})}
        if people is not None:
            counts["people"] = people
        if deliveries is not None:
            counts["deliveries"] = deliveries
        self.size = size
        self.counts = counts
        # Standing API behaviours the documentation leaves open; every route may consult them.
        self.quirks = quirks or Quirks()
        self.ctx = Ctx(seed, int(time.time()) if now is None else now)
        self.people = People(self.ctx, counts["people"], self.quirks)
        self.tables: dict[str, Table] = build_tables(self.ctx, counts, self.people.identity, counts["people"])
        secret = hashlib.sha256(f"sandbox-download-{seed}".encode()).digest()
        self.exports = Exports(self.ctx, self.people, counts["exports"], secret)
        self.tables["exports"] = Table(
            self.ctx, "exports", counts["exports"], self.exports.build, cursor_field="updated_at", id_base=110
        )
        self.deliveries = Deliveries(
            self.ctx, counts["deliveries"], self.people, {k: counts[k] for k in _COMMON}
        )
        self.sub = SubResources(self)

    def segment_exists(self, segment_id: int) -> bool:
        return self.tables["segments"].index_of(str(segment_id)) is not None

    # truth ---------------------------------------------------------------------------------------------
    def count(self, stream: str) -> int:
        if stream == "messages":
            return self.deliveries.count
        if stream == "customers":
            return self.people.count - len(self.people.deleted())
        if stream == "eps_suppression":
            return sum(self.tables[f"suppression:{k}"].count for k in SUPPRESSION_TYPES)
        if stream in SUB_STREAMS:
            return sum(1 for _ in self.sub.keys(stream))
        return self.tables[stream].count

    def keys(self, stream: str) -> Iterator[str]:
        if stream == "messages":
            yield from (self.deliveries.key(i) for i in self.deliveries.indices())
        elif stream == "customers":
            yield from (self.people.cio_id(i) for i in self.people.existing())
        elif stream == "eps_suppression":
            for kind in SUPPRESSION_TYPES:
                table = self.tables[f"suppression:{kind}"]
                yield from (f"{kind}|{table.key(r)}" for r in table.records())
        elif stream in SUB_STREAMS:
            yield from self.sub.keys(stream)
        else:
            table = self.tables[stream]
            yield from (table.key(r) for r in table.records())

    def suppression_keys(self, domains: list[str]) -> list[str]:
        """`type|domain|email` of every suppression read one sending domain at a time."""
        keys = []
        for kind in SUPPRESSION_TYPES:
            table = self.tables[f"suppression:{kind}"]
            for domain in dict.fromkeys(domains):
                for k in range(domain_count(domain, table.count)):
                    keys.append(f"{kind}|{domain}|{table.key(table.record(domain_index(domain, k)))}")
        return keys

    def hidden_sender_ids(self) -> set[int]:
        table = self.tables["sender_identities"]
        return {table.id_of(i) for i in range(table.count) if sender_hidden(i)}

    def truth_header(self, stream: str) -> dict[str, Any]:
        if stream not in STREAMS:
            raise ApiError(404, f"unknown stream {stream!r}; streams: {', '.join(STREAMS)}")
        out: dict[str, Any] = {
            "stream": stream,
            "primary_key": PRIMARY_KEYS[stream],
            "count": self.count(stream),
        }
        if stream == "messages":
            out["cursor_field"] = "created"
            out["max_cursor"] = self.deliveries.last_created()
            out["min_cursor"] = self.deliveries.first_created()
        elif stream in self.tables and self.tables[stream].cursor_field:
            out["cursor_field"] = self.tables[stream].cursor_field
            out["max_cursor"] = self.tables[stream].max_cursor()
        return out

    def truth(self, stream: str, keys: bool = True) -> dict[str, Any]:
        out = self.truth_header(stream)
        if keys:
            out["keys"] = list(self.keys(stream))
        return out

    # mutations -----------------------------------------------------------------------------------------
    def mutate(self, stream: str, op: str, count: int) -> dict[str, Any]:
        if op not in ("update", "insert", "delete"):
            raise ApiError(400, f"op must be 'update', 'insert' or 'delete', got {op!r}")
        if not isinstance(count, int) or count < 1:
            raise ApiError(400, "count must be a positive integer")
        now = int(time.time())
        if op == "delete":
            return self._delete(stream, count, now)
        if stream == "messages":
            picked = getattr(self.deliveries, op)(count, now)
            return {"keys": [self.deliveries.key(i) for i in picked], "cursor": now}
        if stream == "customers":
            picked = getattr(self.people, op)(count, now)
            return {"keys": [self.people.cio_id(i) for i in picked], "cursor": now}
        if stream in SUB_STREAMS:
            return self.sub.mutate(stream, op, count, now)
        name = "suppression:bounces" if stream == "eps_suppression" else stream
        table = self.tables.get(name)
        # A changed or added activity is no longer listed newest first: the API promises no order.
        if table is None or name == "ip_addresses":
            raise ApiError(400, f"stream {stream!r} cannot be mutated")
        if op == "update" and table.cursor_field is None:
            raise ApiError(400, f"stream {stream!r} has no cursor field to update")
        picked = table.insert(count, now) if op == "insert" else table.update(count, now)
        keys = [table.key(table.record(i)) for i in picked]
        if stream == "eps_suppression":
            keys = [f"bounces|{k}" for k in keys]
        return {"keys": keys, "cursor": now}

    def _delete(self, stream: str, count: int, now: int) -> dict[str, Any]:
        if stream in DELETABLE_CHILDREN:
            return self.sub.delete(stream, count, now)
        if stream not in DELETABLE:
            names = ", ".join((*DELETABLE, *DELETABLE_CHILDREN))
            raise ApiError(400, f"stream {stream!r} cannot be deleted from; these can: {names}")
        table = self.tables[stream]
        picked = table.delete(count)
        return {"keys": [table.key(table.record(i)) for i in picked], "cursor": now}
