"""The simple tables, one row each: where they live, how they page, what identifies a record.

A table needs a class of its own only where its behaviour differs (deliveries' time windows,
customers' search-and-hydrate or export, suppressions' four lists): see the sibling modules.
Page sizes are the largest each endpoint is documented (or, where undocumented, known) to accept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.core import StreamData

from source_customerio.http.pagination import CursorPagination, NoPagination, Paginator
from source_customerio.streams.base import CustomerioStream, StreamContext
from source_customerio.streams.deletions import Key, ask_by_id
from source_customerio.streams.incremental import ClientSideIncrementalMixin


def _utc(unix: int) -> str:
    return datetime.fromtimestamp(unix, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _address_record(address: Any) -> dict[str, Any]:
    # /v1/info/ip_addresses lists bare strings; the address itself is the key.
    return {"id": str(address)}


@dataclass(frozen=True)
class Flagged:
    """A second listing of the same endpoint (with `params`) for records the plain listing leaves out.

    Each record gets `field`: False if the plain listing has it, else True. Whether the second listing
    holds only those records or all of them does not matter: a record is emitted once, by its key.
    """

    field: str
    params: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    name: str
    path: str
    records_key: str
    primary_key: str | list[str] = "id"
    cursor_field: str | None = None
    paging: Literal["cursor", "none"] = "none"
    page_size: int | None = None
    to_record: Callable[[Any], dict[str, Any]] | None = None
    # How many days back the API keeps records, where it forgets older ones.
    retention_days: int | None = None
    flagged: Flagged | None = None
    # Incremental reads emit a tombstone for each key no longer listed (streams/deletions.py).
    deletions: bool = False
    # (path of one record, its envelope key): asked for each key a paged listing left out (`recheck`).
    item: tuple[str, str] | None = None

    def paginator(self, start: str | None = None, saved: bool = False) -> Paginator:
        return CursorPagination(self.page_size, start, saved) if self.paging == "cursor" else NoPagination()


TABLES: tuple[Table, ...] = (
    Table("broadcasts", "broadcasts", "broadcasts", cursor_field="updated", deletions=True),
    Table("transactional_messages", "transactional", "messages", cursor_field="updated_at", deletions=True),
    Table("campaigns", "campaigns", "campaigns", cursor_field="updated", deletions=True),
    Table(
        "newsletters",
        "newsletters",
        "newsletters",
        cursor_field="updated",
        paging="cursor",
        page_size=100,
        deletions=True,
        item=("newsletters/{id}", "newsletter"),
    ),
    Table("segments", "segments", "segments", cursor_field="updated_at", deletions=True),
    Table("exports", "exports", "exports", cursor_field="updated_at"),
    # Only the last 30 days are kept. The API's order is not documented: the whole list is read and
    # filtered, never cut short at the first old page.
    Table(
        "activities",
        "activities",
        "activities",
        cursor_field="timestamp",
        paging="cursor",
        page_size=100,
        retention_days=30,
    ),
    # Hidden senders are listed only with hidden=true; whether that lists only them or every sender is
    # not documented, and Flagged is right either way (sandbox: Quirks.hidden_senders_listing).
    Table(
        "sender_identities",
        "sender_identities",
        "sender_identities",
        paging="cursor",
        page_size=100,
        flagged=Flagged("hidden", (("hidden", "true"),)),
    ),
    Table("reporting_webhooks", "reporting_webhooks", "reporting_webhooks"),
    Table("snippets", "snippets", "snippets", primary_key="name", cursor_field="updated_at", deletions=True),
    Table("ip_addresses", "info/ip_addresses", "ip_addresses", to_record=_address_record),
    Table("collections", "collections", "collections", cursor_field="updated_at", deletions=True),
    Table("topics", "subscription_topics", "topics"),
    Table("workspaces", "workspaces", "workspaces"),
    Table("types", "object_types", "types"),
)


class ListStream(CustomerioStream):
    """A table read by listing its endpoint, page after page."""

    def __init__(self, table: Table, context: StreamContext) -> None:
        self.table = table
        super().__init__(context)

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def primary_key(self) -> str | list[str]:  # type: ignore[override]
        return self.table.primary_key

    def probe_target(self) -> tuple[str, str, dict[str, Any], dict[str, Any] | None]:
        return "GET", self.table.path, {"limit": 1} if self.table.paging == "cursor" else {}, None

    next_page: str | None = None
    walk: Paginator  # set by the incremental mixin's slices

    def new_walk(self, start: str | None = None, saved: bool = False) -> Paginator:
        return self.table.paginator(start, saved)

    def read_stream(self, sync_mode: SyncMode, stream_slice: Mapping[str, Any]) -> Iterable[StreamData]:
        """The whole list, or with `one_page` the next page of the stream's walk (see next_page)."""
        if stream_slice.get("one_page"):
            paginator = self.walk
            yield from self._listing(paginator, {}, one_page=True)
            following = paginator.following
            self.next_page = following.get("start") if following else None
            return
        flagged = self.table.flagged
        if flagged is None:
            yield from self._listing(self.new_walk(), {})
            return
        seen: set[Any] = set()
        yield from self._listing(self.new_walk(), {}, flag=(flagged.field, False), seen=seen)
        yield from self._listing(self.new_walk(), dict(flagged.params), flag=(flagged.field, True), seen=seen)

    def _listing(
        self,
        paginator: Paginator,
        params: Mapping[str, Any],
        one_page: bool = False,
        flag: tuple[str, bool] | None = None,
        seen: set[Any] | None = None,
    ) -> Iterable[StreamData]:
        """The records of one listing; with `seen`, those whose key was seen already are left out."""
        to_record, normalize, progress = self.table.to_record, self.normalize, self.progress
        key = self.primary_key if isinstance(self.primary_key, str) else None
        for records in self.pages(self.table.path, paginator, self.table.records_key, params=params):
            for raw in records:
                record = to_record(raw) if to_record else raw
                if not isinstance(record, dict):
                    continue
                if seen is not None and key is not None and record.get(key) is not None:
                    if str(record[key]) in seen:
                        continue
                    seen.add(str(record[key]))
                if flag is not None:
                    record[flag[0]] = flag[1]
                yield normalize(record)
            progress.add(len(records))
            if one_page:
                break


class IncrementalListStream(ClientSideIncrementalMixin, ListStream):
    @property
    def cursor_field(self) -> str:  # type: ignore[override]
        return self.table.cursor_field or ""

    def stream_slices(
        self,
        *,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | None]:
        self._warn_of_a_gap(sync_mode)
        yield from super().stream_slices(
            sync_mode=sync_mode, cursor_field=cursor_field, stream_state=stream_state
        )

    def _warn_of_a_gap(self, sync_mode: SyncMode) -> None:
        saved = self.saved_timestamp(self.cursor_field)
        days = self.table.retention_days
        if sync_mode != SyncMode.incremental or saved is None or days is None:
            return
        if saved < self.context.now - days * 86_400:
            oldest = self.context.now - days * 86_400
            self.logger.warning(
                f"Stream '{self.name}': the last sync read up to {_utc(saved)}, but Customer.io keeps only "
                f"the last {days} days: {self.name} from then to {_utc(oldest)} cannot be read. "
                f"Sync more often than every {days} days to read them all."
            )

    @property
    def tracks_deletions(self) -> bool:  # type: ignore[override]
        return self.table.deletions

    def recheck(self, keys: list[Key]) -> Iterator[tuple[Key, Mapping[str, Any] | None]]:
        """Whether a `next` cursor is a position in the list (a deletion before it then moves a later
        record onto a page already read) or names the last record shown is not documented. So a key a
        paged listing left out is asked for by id before it is called gone: 404 is gone (sandbox:
        Quirks.deleted_while_paging)."""
        if self.table.item is None:
            yield from super().recheck(keys)
            return
        path, envelope = self.table.item
        yield from ask_by_id(
            self, keys, lambda key: path.format(id=key[0]), envelope, self.normalize, self.key_fields
        )


def list_streams(context: StreamContext) -> list[CustomerioStream]:
    return [
        IncrementalListStream(table, context) if table.cursor_field else ListStream(table, context)
        for table in TABLES
    ]
