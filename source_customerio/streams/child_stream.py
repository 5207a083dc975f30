"""The child tables: each parent's sub-resource list (campaign and broadcast actions, newsletter and
transactional variants, segment memberships), read per parent by `FanOutStream`, and their deletions.

A child table is a row: its parent (a row of `catalog.TABLES`), the path under one parent, the records
key, its own key and cursor. Every record carries its parent's id, which is part of its primary key.

Deletions. A parent's list is read whole in one unit of work, so each parent is a complete read of its
own. An incremental read keeps, beside each parent's cursor, the keys of the children it listed:
    {"parents": {"<parent id>": {"updated": <highest>, "keys": <encode_keys blob>}}, ...}
and emits a tombstone (`deletions.tombstone`: the parent's id, the child's key, the cursor at the read
time, `_ab_cdc_deleted_at`) for each key that the next complete read of that parent no longer lists. A
parent gone takes its children with it: one whose sub-resource answers 404 at once (each endpoint
documents 404 as the parent not existing), or one that a complete parent listing no longer holds, gets
a tombstone for every key saved under it, and its entry goes.

Only what proves a deletion produces one. A stream skipped (403) or failed keeps its state as it was;
a killed pass keeps the saved keys of every parent it had not finished. A parent read part-way (404
after some pages: a cursor refused, sandbox `cursor_ttl_seconds` with `expired_cursor_status` 404; or the
parent deleted meanwhile) or answered without its list (`empty_list_omits_key`) keeps its saved keys (and
those it saw) and its cursor, with a warning; a parent listing answered without its list takes no parent
for gone. Campaign actions come 10 a page behind `next` cursors whose meaning under deletions is not
documented (a position would let a deletion move a later action onto a page already read): an action
that a parent's pages left out is asked for by id before it is called gone (sandbox switch
`actions_deleted_while_paging`), and a newsletter that the paged newsletter listing left out likewise
(`deleted_while_paging`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airbyte_cdk.models import SyncMode

from source_customerio.streams.base import CustomerioStream, StreamContext
from source_customerio.streams.children import FanOutStream, Listing, Parent, Pass
from source_customerio.streams.deletions import (
    DELETED_AT,
    Key,
    KeyLedger,
    ask_by_id,
    decode_keys,
    rfc3339,
    tombstone,
)


def _member(identifiers: Any) -> dict[str, Any] | None:
    # GET /v1/segments/{id}/membership: `identifiers` items are {email, id, cio_id}; `ids` repeats `id`.
    return dict(identifiers) if isinstance(identifiers, Mapping) else None


@dataclass(frozen=True)
class Child:
    name: str
    parent: str
    path: str
    records_key: str
    parent_key: str
    key: str = "id"
    cursor_field: str | None = None
    page_size: int | None = None
    to_record: Callable[[Any], dict[str, Any] | None] | None = None
    # Incremental reads keep each parent's child keys and emit a tombstone for each one gone.
    deletions: bool = False
    # (path of one child, its envelope key): asked for each key a paged sub-resource left out.
    item: tuple[str, str] | None = None

    @property
    def primary_key(self) -> list[str]:
        return [self.parent_key, self.key]


CHILDREN: tuple[Child, ...] = (
    # Up to 10 actions a page; `next` becomes `start` (listCampaignActions). One action by id:
    # getCampaignAction, `{"action": {...}}`, 404 when "the campaign and/or action do not exist".
    Child(
        "campaign_actions",
        "campaigns",
        "campaigns/{parent_id}/actions",
        "actions",
        "campaign_id",
        cursor_field="updated",
        deletions=True,
        item=("campaigns/{parent_id}/actions/{id}", "action"),
    ),
    Child(
        "broadcast_actions",
        "broadcasts",
        "broadcasts/{parent_id}/actions",
        "actions",
        "broadcast_id",
        cursor_field="updated",
        deletions=True,
    ),
    # Newsletter contents have no created/updated in the OpenAPI document: a record without the cursor
    # is always emitted (the sandbox switch `newsletter_contents_updated` gives them one).
    Child(
        "newsletter_variants",
        "newsletters",
        "newsletters/{parent_id}/contents",
        "contents",
        "newsletter_id",
        cursor_field="updated",
        deletions=True,
    ),
    Child(
        "transactional_contents",
        "transactional_messages",
        "transactional/{parent_id}/contents",
        "contents",
        "transactional_message_id",
        cursor_field="updated",
        deletions=True,
    ),
    # Personal data, full refresh only; up to 30,000 people a page.
    Child(
        "segment_memberships",
        "segments",
        "segments/{parent_id}/membership",
        "identifiers",
        "segment_id",
        key="cio_id",
        page_size=30_000,
        to_record=_member,
    ),
)


class ChildStream(FanOutStream):
    """A row of CHILDREN: the sub-resource list of each parent, filtered on the child's cursor, and in
    incremental reads its deletions (see the module docstring)."""

    def __init__(self, child: Child, context: StreamContext) -> None:
        self.child = child
        # The key ledger of the parent under read, and the tombstones emitted in this pass.
        self._ledger: KeyLedger | None = None
        self._tombstones_emitted = 0
        super().__init__(child, context)

    @property
    def record_cursor(self) -> str | None:
        return self.child.cursor_field

    def sub_path(self, parent_id: str) -> str:
        return self.child.path.format(parent_id=parent_id)

    def parent_pages(self, parent: Parent, sync_mode: SyncMode) -> Iterator[list[dict[str, Any]]]:
        child = self.child
        path = self.sub_path(parent.key)
        for raw_records in self.sub_pages(path, child.records_key, child.page_size, parent.listing):
            page = []
            for raw in raw_records:
                record = self.shape(parent.record["id"], raw)
                if record is None:
                    continue
                if record.get(child.key) in (None, ""):
                    raise self.unexpected(f"/{path} listed an item without its '{child.key}'.")
                page.append(record)
            yield page

    def shape(self, parent_id: Any, raw: Any) -> dict[str, Any] | None:
        """A child record as the stream emits it: the item, its parent's id, normalised."""
        child = self.child
        record = (
            child.to_record(raw) if child.to_record else (dict(raw) if isinstance(raw, Mapping) else None)
        )
        if record is None:
            return None
        record[child.parent_key] = parent_id
        return self.normalize(record)

    def lower_bound(self, saved: Any, sync_mode: SyncMode) -> int | None:
        """Records whose cursor is older than this are left out: start_date, and in an incremental
        read the parent's saved cursor less the lookback (lists are unordered, edits land mid-sync)."""
        bounds = [self.context.config.start_timestamp]
        if sync_mode == SyncMode.incremental and isinstance(saved, int) and not isinstance(saved, bool):
            bounds.append(saved - self.context.config.lookback_window_minutes * 60)
        present = [b for b in bounds if b is not None]
        return max(present) if present else None

    # -- per parent: which records, what the state keeps, which keys are gone -------------------------

    def tracks_keys(self, walk: Pass) -> bool:
        config = self.context.config
        return self.child.deletions and config.emit_deletions and walk.sync_mode == SyncMode.incremental

    def open_parent(self, walk: Pass, parent: Parent) -> Callable[[Mapping[str, Any]], bool]:
        cursor = self.child.cursor_field
        floor = self.lower_bound(parent.saved, walk.sync_mode) if cursor else None
        ledger = self._ledger = (
            KeyLedger.from_state(
                [self.child.key], walk.cursors.get(parent.key, {}), {}, self._warn(parent.key)
            )
            if self.tracks_keys(walk)
            else None
        )

        def admit(record: Mapping[str, Any]) -> bool:
            # Every key is noted; one the parent's last complete read did not list is emitted whatever
            # its cursor (KeyLedger.see).
            unseen = ledger.see(record) if ledger is not None else False
            value = record.get(cursor) if cursor else None
            return unseen or floor is None or not isinstance(value, int) or value >= floor

        return admit

    def close_parent(
        self, walk: Pass, parent: Parent, exists: bool, highest: Any
    ) -> Iterator[dict[str, Any]]:
        ledger, listing, cursor = self._ledger, parent.listing, self.child.cursor_field
        saved = {k: v for k, v in walk.cursors.get(parent.key, {}).items() if k != "keys"}
        if not listing.answered:  # 404 at once: the parent is gone, its children with it
            walk.cursors.pop(parent.key, None)
            if ledger is not None and ledger.previous:
                yield from self._tombstones(parent.key, ledger.previous, highest)
            return
        if not listing.finished or listing.without_records:
            self._unproven(parent.key, listing)
            if ledger is not None:
                ledger.keep(ledger.missing())
                saved.update(ledger.complete())
            self._keep(walk, parent.key, saved)
            return
        entry = {cursor: highest} if cursor and highest is not None else {}
        if ledger is not None:
            gone: list[Key] = []
            for key, record in self._recheck(parent, ledger.missing(), listing):
                if record is None:
                    gone.append(key)
                elif record:
                    ledger.see(record)
                    yield dict(record)
                else:
                    ledger.keep([key])
            yield from self._tombstones(parent.key, gone, highest)
            entry.update(ledger.complete())
        self._keep(walk, parent.key, entry)

    def close_pass(self, walk: Pass) -> Iterator[dict[str, Any]]:
        """Parents no longer listed are forgotten; with their saved keys, a tombstone for each first."""
        listed = set(walk.listed)
        unlisted = [key for key in walk.cursors if key not in listed]
        tracked = [key for key in unlisted if self.tracks_keys(walk) and "keys" in walk.cursors[key]]
        if tracked and not walk.listed_whole:
            self.logger.warning(
                f"Stream '{self.name}': an answer of the {self.parent_table.name} listing carried no list, "
                f"which may be an empty list or a failure; {len(tracked)} parent(s) it left out are not "
                "taken for deleted, and their children's keys are kept."
            )
            unlisted = [key for key in unlisted if key not in tracked]
        for key in self._still_there(tracked if walk.listed_whole else []):
            unlisted.remove(key)
        for key in unlisted:
            entry = walk.cursors.pop(key)
            if key in tracked:
                keys = decode_keys(entry["keys"])
                if keys is None:
                    self._warn(key)(
                        f"saved keys={entry['keys']!r:.80} are unusable; its children are forgotten."
                    )
                yield from self._tombstones(key, keys or (), entry.get(self.child.cursor_field or ""))
        if self._tombstones_emitted:
            self.logger.info(
                f"Stream '{self.name}': {self._tombstones_emitted} record(s) listed by the last complete "
                f"read of their {self.parent_table.name} are gone (tombstones emitted, {DELETED_AT}="
                f"{rfc3339(self.context.now)})."
            )
            self._tombstones_emitted = 0

    def _recheck(
        self, parent: Parent, missing: list[Key], listing: Listing
    ) -> Iterable[tuple[Key, Mapping[str, Any] | None]]:
        """(key, its record) for each key the parent's read left out: None when it is gone. A list read
        in one answer is its own proof; a paged one may have shifted under a deletion (undocumented:
        sandbox switch `actions_deleted_while_paging`), so each key is asked for by id where the API
        can say (`deletions.ask_by_id`)."""
        if not missing or self.child.item is None or listing.pages < 2:
            return ((key, None) for key in missing)
        path, envelope = self.child.item
        return ask_by_id(
            self,
            missing,
            lambda key: path.format(parent_id=parent.key, id=key[0]),
            envelope,
            lambda raw: self.shape(parent.record["id"], raw) or {},
            [self.child.key],
        )

    def _still_there(self, parents: list[str]) -> Iterator[str]:
        """The parents a paged parent listing left out that the API still has (or cannot say of): their
        entries stay, their children are read at the next sync (sandbox switch `deleted_while_paging`)."""
        if not parents or self.parent_table.item is None:
            return
        path, envelope = self.parent_table.item
        asked = ask_by_id(
            self,
            [(key,) for key in parents],
            lambda key: path.format(id=key[0]),
            envelope,
            lambda raw: {**raw, "id": str(raw.get("id"))},
            ["id"],
        )
        for (key,), record in asked:
            if record is not None:
                self.logger.info(
                    f"Stream '{self.name}': {self.parent_table.name} {key} was not listed but is still "
                    "there; its children are read at the next sync."
                )
                yield str(key)

    def _tombstones(self, parent_id: str, keys: Iterable[Key], highest: Any) -> Iterator[dict[str, Any]]:
        """A tombstone for each child key under the parent. Its cursor is the read time, or the parent's
        highest cursor if the API's clock is ahead of ours: it must win the destination's dedup."""
        now = self.context.now
        at = max(now, highest) if isinstance(highest, int) and not isinstance(highest, bool) else now
        deleted_at, cursor = rfc3339(now), self.child.cursor_field or ""
        for key in sorted(keys, key=repr):
            self._tombstones_emitted += 1
            yield self.normalize(tombstone(self.primary_key, (parent_id, *key), cursor, at, deleted_at))

    def _unproven(self, parent_id: str, listing: Listing) -> None:
        path = self.sub_path(parent_id)
        if listing.without_records:
            what = f"answered {listing.without_records} time(s) without its list of {self.child.records_key}"
        else:
            what = (
                f"answered 404 after {listing.pages} page(s) (a page cursor refused, or the parent deleted)"
            )
        self.logger.warning(
            f"Stream '{self.name}': /{path} {what}, so its records may not all have been read. Nothing is "
            "taken for deleted under it, and its cursor stays where it was: the next sync reads it again."
        )

    def _warn(self, parent_id: str) -> Callable[[str], None]:
        return lambda text: self.logger.warning(f"Stream '{self.name}', parent {parent_id}: {text}")

    @staticmethod
    def _keep(walk: Pass, parent_id: str, entry: dict[str, Any]) -> None:
        if entry:
            walk.cursors[parent_id] = entry
        else:
            walk.cursors.pop(parent_id, None)


def child_streams(context: StreamContext) -> list[CustomerioStream]:
    return [ChildStream(child, context) for child in CHILDREN]
