"""The tables under the tables: one fan-out class for all of them (the child tables of
`child_stream.py`, the daily metrics of `metrics.py`).

A fan-out stream names its parent (a row of `catalog.TABLES`). Each sync lists the parents, then
reads several parents' children side by side under the shared budget (`Prefetcher`: in order; pages of
parents ahead of the reader wait on disk, so memory stays flat whatever the number of parents). Every
record carries its parent's id, which is part of its primary key.

State, bounded by the number of parents:
    {"parents": {"<parent id>": {<cursor field>: <highest value read>}}, "done": ["<parent id>", ...]}
`parents` holds each parent's own cursor, so a parent new since the last sync is read whole. `done`
lists the parents already read in a pass that has not ended: a sync killed mid-fan-out resumes with
the parents left. A STATE follows each group of parents; at the end of a pass `done` goes, and parents
no longer listed are forgotten. A stream without a cursor (segment memberships) keeps `done` only and
ends a pass with the CDK's full-refresh-complete marker. The child tables also keep each parent's
child keys, for deletions (`child_stream.py`).

A parent deleted between the listing and its children's request answers 404: it is skipped with a
debug line. A 403 skips the stream with the warning every stream gives (`CustomerioStream`).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
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


@dataclass
class Listing:
    """What reading a parent's sub-resource showed besides its records: written by the worker that
    reads it, read by the reader once all the parent's pages are in."""

    answered: bool = False  # False: 404 at once, the parent is gone
    finished: bool = False  # the walk reached the list's end (not a 404 part-way)
    pages: int = 0
    without_records: int = 0  # answers with no list under the records key


@dataclass(frozen=True)
class Parent:
    key: str
    record: Mapping[str, Any]
    saved: Any
    listing: Listing = field(default_factory=Listing)


@dataclass
class Pass:
    """One walk over the parent list: what is left, where the reader is, what the state will say."""

    units: list[Parent]
    listed: list[str]
    cursors: dict[str, dict[str, Any]]
    done: list[str]
    prefetcher: Prefetcher[Parent, list[dict[str, Any]]]
    group_size: int
    sync_mode: SyncMode
    # Every answer of the parent listing carried its list: parents it leaves out are no longer there.
    listed_whole: bool
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

    def sub_pages(
        self, path: str, records_key: str, page_size: int | None = None, listing: Listing | None = None
    ) -> Iterator[list[Any]]:
        """The records of each page of a parent's sub-resource (an empty page too); no page at all when
        the parent is gone (a 404: deleted after the listing; sandbox switch `deleted_parents`). What the
        walk showed goes to `listing`."""
        listing = listing or Listing()
        paginator = CursorPagination(page_size)
        for records in self.pages(path, paginator, records_key, allow_missing=True):
            listing.answered = True
            listing.pages += 1
            yield records
        listing.finished = paginator.finished
        listing.without_records = paginator.answers_without_records
        if not listing.answered:
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
        walk = table.paginator()
        for page in self.pages(table.path, walk, table.records_key):
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
        whole = walk.answers_without_records == 0
        return Pass(units, listed, cursors, list(done), prefetcher, group_size, sync_mode, whole)

    def _read_group(self, walk: Pass) -> Iterator[dict[str, Any]]:
        cursor, parents_read, records_read = self.record_cursor, 0, 0
        while (
            walk.position < len(walk.units)
            and parents_read < walk.group_size
            and records_read < GROUP_RECORDS
        ):
            parent = walk.units[walk.position]
            admit = self.open_parent(walk, parent)
            highest, exists = parent.saved, False
            for page in walk.prefetcher.items(walk.position):
                exists = True
                for record in page:
                    if not admit(record):
                        continue
                    value = record.get(cursor) if cursor else None
                    if value is not None and (highest is None or _later(value, highest)):
                        highest = value
                    yield record
                records_read += len(page)
                self.progress.add(len(page))
            yield from self.close_parent(walk, parent, exists, highest)
            walk.done.append(parent.key)
            walk.position += 1
            parents_read += 1
        if walk.position < len(walk.units):
            self.state = {**self._cursor_state(walk.cursors), "done": list(walk.done)}
            return
        walk.finished = True
        walk.prefetcher.close()
        if cursor:
            yield from self.close_pass(walk)
            self.state = self._cursor_state(walk.cursors)
        else:
            self.state = dict(COMPLETE)

    # -- what a subclass may refine: per parent, which records, and what the state keeps ------------

    def open_parent(self, walk: Pass, parent: Parent) -> Callable[[Mapping[str, Any]], bool]:
        """Before the parent's records: which of them are emitted (every one, here)."""
        return _everything

    def close_parent(
        self, walk: Pass, parent: Parent, exists: bool, highest: Any
    ) -> Iterator[dict[str, Any]]:
        """After the parent's records: its entry in the state, and any record that follows them."""
        if not exists:
            walk.cursors.pop(parent.key, None)
        elif self.record_cursor and highest is not None:
            walk.cursors[parent.key] = {self.record_cursor: highest}
        return iter(())

    def close_pass(self, walk: Pass) -> Iterator[dict[str, Any]]:
        """At the end of a pass: the parents no longer listed are forgotten."""
        listed = set(walk.listed)
        for key in [key for key in walk.cursors if key not in listed]:
            del walk.cursors[key]
        return iter(())

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


def _everything(record: Mapping[str, Any]) -> bool:
    return True


def _later(value: Any, than: Any) -> bool:
    try:
        return bool(value > than)
    except TypeError:  # a saved cursor of another type (hand-edited state): the new value wins
        return True
