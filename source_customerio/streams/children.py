"""The tables under the tables: a second declarative table, and one fan-out class for all of them.

A child table names its parent (a row of `catalog.TABLES`), the path under one parent, the records
key, its own key and cursor. Each sync lists the parents, then reads several parents' children side
by side under the shared budget (`Prefetcher`: in order; pages of parents ahead of the reader wait on
disk, so memory stays flat whatever the number of parents). Every record carries its parent's id,
which is part of its primary key.

State, bounded by the number of parents:
    {"parents": {"<parent id>": {<cursor field>: <highest value read>}}, "done": ["<parent id>", ...]}
`parents` holds each parent's own cursor, so a parent new since the last sync is read whole. `done`
lists the parents already read in a pass that has not ended: a sync killed mid-fan-out resumes with
the parents left. A STATE follows each group of parents; at the end of a pass `done` goes, and parents
no longer listed are forgotten. A stream without a cursor (segment memberships) keeps `done` only and
ends a pass with the CDK's full-refresh-complete marker.

A parent deleted between the listing and its children's request answers 404: it is skipped with a
debug line. A 403 skips the stream with the warning every stream gives (`CustomerioStream`).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from airbyte_cdk.models import FailureType, StreamDescriptor, SyncMode
from airbyte_cdk.sources.streams.core import StreamData
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_customerio.http.pagination import CursorPagination
from source_customerio.streams.base import CustomerioStream, StreamContext
from source_customerio.streams.catalog import TABLES, Table
from source_customerio.streams.prefetch import Codec, Prefetcher

# Parents whose requests run ahead of the reader: at 10 requests/s and ~150 ms an answer, two or three
# in flight keep the budget busy; more covers parents with several pages.
PARENTS_AHEAD = 8
# A STATE after this many parents (more when there are many parents: at most STATES_PER_PASS states a
# pass, each the size of the parent list), or after GROUP_RECORDS records, whichever comes first.
GROUP_PARENTS = 10
STATES_PER_PASS = 100
GROUP_RECORDS = 10_000
COMPLETE = {"__ab_full_refresh_sync_complete": True}
PAGES_ON_DISK = Codec(encode=orjson.dumps, decode=orjson.loads)
TABLES_BY_NAME = {table.name: table for table in TABLES}


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

    @property
    def primary_key(self) -> list[str]:
        return [self.parent_key, self.key]


CHILDREN: tuple[Child, ...] = (
    # Up to 10 actions a page; `next` becomes `start` (listCampaignActions).
    Child(
        "campaign_actions",
        "campaigns",
        "campaigns/{parent_id}/actions",
        "actions",
        "campaign_id",
        cursor_field="updated",
    ),
    Child(
        "broadcast_actions",
        "broadcasts",
        "broadcasts/{parent_id}/actions",
        "actions",
        "broadcast_id",
        cursor_field="updated",
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
    ),
    Child(
        "transactional_contents",
        "transactional_messages",
        "transactional/{parent_id}/contents",
        "contents",
        "transactional_message_id",
        cursor_field="updated",
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


@dataclass(frozen=True)
class Parent:
    key: str
    record: Mapping[str, Any]
    saved: Any


@dataclass
class Pass:
    """One walk over the parent list: what is left, where the reader is, what the state will say."""

    units: list[Parent]
    listed: list[str]
    cursors: dict[str, dict[str, Any]]
    done: list[str]
    prefetcher: Prefetcher[Parent, list[dict[str, Any]]]
    group_size: int
    position: int = 0
    finished: bool = False


class Row(Protocol):
    """A row of a sub-resource table: the stream's name, its parent (a TABLES name) and its key."""

    @property
    def name(self) -> str: ...
    @property
    def parent(self) -> str: ...
    @property
    def primary_key(self) -> list[str]: ...


class FanOutStream(CustomerioStream):
    """One unit of work per parent, several parents ahead of the reader (see the module docstring).

    A subclass says what one parent yields (`parent_pages`) and which record field moves its cursor.
    """

    resumable = True

    def __init__(self, row: Row, context: StreamContext) -> None:
        self.row = row
        self.parent_table: Table = TABLES_BY_NAME[row.parent]
        self._pass: Pass | None = None
        super().__init__(context)

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def primary_key(self) -> list[str]:  # type: ignore[override]
        return self.row.primary_key

    # -- what a subclass defines -------------------------------------------------------------------

    @property
    @abstractmethod
    def record_cursor(self) -> str | None:
        """The record field whose highest value is each parent's cursor; None: no cursor."""

    @abstractmethod
    def parent_pages(self, parent: Parent, sync_mode: SyncMode) -> Iterator[list[dict[str, Any]]]:
        """One parent's records, shaped and normalised, a page at a time. Runs on a worker thread.
        Yields at least one (maybe empty) page for a parent that exists, nothing for one deleted."""

    @abstractmethod
    def sub_path(self, parent_id: str) -> str:
        """The path under one parent, for `check` (an unknown parent answers 404, a refused key 403)."""

    # -- shared ------------------------------------------------------------------------------------

    @property
    def cursor_field(self) -> str | list[str]:
        return self.record_cursor or []

    def probe_target(self) -> tuple[str, str, dict[str, Any], dict[str, Any] | None]:
        # No parent has id 0, so a key allowed to read the endpoint gets 404 (treated as readable).
        return "GET", self.sub_path("0"), {}, None

    def sub_pages(self, path: str, records_key: str, page_size: int | None = None) -> Iterator[list[Any]]:
        """The records of each page of a parent's sub-resource (an empty page too); no page at all when
        the parent is gone (a 404: deleted after the listing; sandbox switch `deleted_parents`)."""
        answered = False
        for records in self.pages(path, CursorPagination(page_size), records_key, allow_missing=True):
            answered = True
            yield records
        if not answered:
            self.logger.debug(
                f"Stream '{self.name}': /{path} answered 404 (deleted during the sync); skipped."
            )

    def unexpected(self, what: str) -> AirbyteTracedException:
        message = f"Stream '{self.name}': {what} The connector stops rather than guess what it means."
        return AirbyteTracedException(
            message=message,
            internal_message=message,
            failure_type=FailureType.system_error,
            stream_descriptor=StreamDescriptor(name=self.name),
        )

    def lower_bound(self, saved: Any, sync_mode: SyncMode) -> int | None:
        """Records whose cursor is older than this are left out: start_date, and in an incremental
        read the parent's saved cursor less the lookback (lists are unordered, edits land mid-sync)."""
        bounds = [self.context.config.start_timestamp]
        if sync_mode == SyncMode.incremental and isinstance(saved, int) and not isinstance(saved, bool):
            bounds.append(saved - self.context.config.lookback_window_minutes * 60)
        present = [b for b in bounds if b is not None]
        return max(present) if present else None

    # -- the walk over the parents -----------------------------------------------------------------

    def stream_slices(
        self,
        *,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | None]:
        # Each slice is the next group of parents (a STATE follows it); made lazily, until the pass ends.
        self._pass = None
        group = 0
        while not self.forbidden and (self._pass is None or not self._pass.finished):
            yield {"group": group}
            group += 1

    def read_stream(self, sync_mode: SyncMode, stream_slice: Mapping[str, Any]) -> Iterable[StreamData]:
        if self._pass is None:
            self._pass = self._begin(sync_mode)
        walk = self._pass
        try:
            yield from self._read_group(walk)
        except BaseException:
            walk.prefetcher.close()
            raise

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[StreamData]:
        yield from super().read_records(sync_mode, cursor_field, stream_slice, stream_state)
        if self.forbidden and not self.record_cursor:
            # The CDK asks a stream without a cursor for slices until its state says complete.
            self.state = dict(COMPLETE)

    def _begin(self, sync_mode: SyncMode) -> Pass:
        cursors, done = self._saved_progress()
        listed: list[str] = []
        records: dict[str, Mapping[str, Any]] = {}
        table = self.parent_table
        for page in self.pages(table.path, table.paginator(), table.records_key):
            for raw in page:
                if (
                    isinstance(raw, Mapping)
                    and raw.get("id") not in (None, "")
                    and str(raw["id"]) not in records
                ):
                    records[str(raw["id"])] = raw
                    listed.append(str(raw["id"]))
        finished = set(done)
        cursor = self.record_cursor
        units = [
            Parent(key, records[key], cursors.get(key, {}).get(cursor) if cursor else None)
            for key in listed
            if key not in finished
        ]
        prefetcher: Prefetcher[Parent, list[dict[str, Any]]] = Prefetcher(
            units,
            lambda parent: self.parent_pages(parent, sync_mode),
            ahead=PARENTS_AHEAD,
            codec=PAGES_ON_DISK,
        )
        group_size = max(GROUP_PARENTS, math.ceil(len(units) / STATES_PER_PASS))
        return Pass(units, listed, cursors, list(done), prefetcher, group_size)

    def _read_group(self, walk: Pass) -> Iterator[dict[str, Any]]:
        cursor, parents_read, records_read = self.record_cursor, 0, 0
        while (
            walk.position < len(walk.units)
            and parents_read < walk.group_size
            and records_read < GROUP_RECORDS
        ):
            parent = walk.units[walk.position]
            highest, exists = parent.saved, False
            for page in walk.prefetcher.items(walk.position):
                exists = True
                for record in page:
                    value = record.get(cursor) if cursor else None
                    if value is not None and (highest is None or _later(value, highest)):
                        highest = value
                    yield record
                records_read += len(page)
                self.progress.add(len(page))
            if not exists:
                walk.cursors.pop(parent.key, None)
            elif cursor and highest is not None:
                walk.cursors[parent.key] = {cursor: highest}
            walk.done.append(parent.key)
            walk.position += 1
            parents_read += 1
        if walk.position < len(walk.units):
            self.state = {**self._cursor_state(walk.cursors), "done": list(walk.done)}
            return
        walk.finished = True
        walk.prefetcher.close()
        if cursor:
            listed = set(walk.listed)
            self.state = self._cursor_state({k: v for k, v in walk.cursors.items() if k in listed})
        else:
            self.state = dict(COMPLETE)

    def _cursor_state(self, cursors: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {"parents": dict(cursors)} if self.record_cursor else {}

    def _saved_progress(self) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """(each parent's saved cursor, the parents done in the pass under way) from the state; a
        shape this stream does not write is ignored with a warning (the read starts over)."""
        state = {k: v for k, v in self.state.items() if k not in COMPLETE}
        parents, done = state.get("parents", {}), state.get("done", [])
        usable = (
            isinstance(parents, Mapping)
            and all(isinstance(k, str) and isinstance(v, Mapping) for k, v in parents.items())
            and isinstance(done, list)
            and all(isinstance(k, str) for k in done)
        )
        if not usable:
            self.logger.warning(
                f"Stream '{self.name}': saved state {dict(self.state)!r} is unusable; "
                "reading every parent again."
            )
            return {}, []
        return {k: dict(v) for k, v in parents.items()}, list(done)


def _later(value: Any, than: Any) -> bool:
    try:
        return bool(value > than)
    except TypeError:  # a saved cursor of another type (hand-edited state): the new value wins
        return True


class ChildStream(FanOutStream):
    """A row of CHILDREN: the sub-resource list of each parent, filtered on the child's cursor."""

    def __init__(self, child: Child, context: StreamContext) -> None:
        self.child = child
        super().__init__(child, context)

    @property
    def record_cursor(self) -> str | None:
        return self.child.cursor_field

    def sub_path(self, parent_id: str) -> str:
        return self.child.path.format(parent_id=parent_id)

    def parent_pages(self, parent: Parent, sync_mode: SyncMode) -> Iterator[list[dict[str, Any]]]:
        child, normalize = self.child, self.normalize
        floor = self.lower_bound(parent.saved, sync_mode) if child.cursor_field else None
        for raw_records in self.sub_pages(self.sub_path(parent.key), child.records_key, child.page_size):
            page = []
            for raw in raw_records:
                record = (
                    child.to_record(raw)
                    if child.to_record
                    else (dict(raw) if isinstance(raw, Mapping) else None)
                )
                if record is None:
                    continue
                record[child.parent_key] = parent.record["id"]
                record = normalize(record)
                if record.get(child.key) in (None, ""):
                    raise self.unexpected(
                        f"/{self.sub_path(parent.key)} listed an item without its '{child.key}'."
                    )
                value = record.get(child.cursor_field) if child.cursor_field else None
                if floor is not None and isinstance(value, int) and value < floor:
                    continue
                page.append(record)
            yield page


def child_streams(context: StreamContext) -> list[CustomerioStream]:
    return [ChildStream(child, context) for child in CHILDREN]
