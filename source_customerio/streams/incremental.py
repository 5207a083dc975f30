"""Client-side incremental state for lists the API cannot filter by update time, and their deletions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams import CheckpointMixin
from airbyte_cdk.sources.streams.core import StreamData

from source_customerio.http.pagination import Paginator
from source_customerio.streams.base import StreamContext
from source_customerio.streams.deletions import DELETED_AT, Key, KeyLedger, rfc3339, tombstone


class ClientSideIncrementalMixin(CheckpointMixin):
    """Incremental state for lists the API cannot filter by update time.

    The list is read whole; records older than (saved cursor - lookback) or than start_date are
    dropped. The saved cursor moves to the largest value seen only once the list has been read to
    its end, because lists come in no order and a partial read proves nothing about what is left.
    A paged list is read one page per slice, and the state after each page says where to resume:
    `{cursor_field: old cursor, "resume": {"start": next page, "highest": largest value so far}}`;
    once the list is read, `{cursor_field: unix seconds}`.

    A stream that `tracks_deletions` also keeps the keys of its last complete incremental read
    (`"keys"`, and `"resume": {"keys"}` for the pass under way) and ends each complete read with a
    tombstone for every key it no longer lists (`streams/deletions.py`).
    """

    cursor_field: str
    context: StreamContext
    saved_timestamp: Callable[[str], int | None]
    new_walk: Callable[..., Paginator]
    logger: Any
    name: str
    primary_key: str | list[str]
    forbidden: bool
    answers_without_records: int
    # The walk through the list that the slices read page by page, resumed from the state.
    walk: Paginator
    # Set by the stream after each slice: the next page's cursor, or None at the end of the list.
    next_page: str | None = None
    # Whether incremental reads keep their keys and emit tombstones (when `emit_deletions` is on).
    tracks_deletions: bool = False
    ledger: KeyLedger | None = None

    def lookback_seconds(self) -> int:
        return self.context.config.lookback_window_minutes * 60

    def lower_bound(self, sync_mode: SyncMode, saved: int | None) -> int | None:
        bounds = [self.context.config.start_timestamp]
        if saved is not None and sync_mode == SyncMode.incremental:
            bounds.append(saved - self.lookback_seconds())
        present = [b for b in bounds if b is not None]
        return max(present) if present else None

    def _resume(self) -> dict[str, Any]:
        resume = self.state.get("resume")
        if resume is None:
            return {}
        if not isinstance(resume, Mapping) or not isinstance(resume.get("start"), str):
            self.logger.warning(
                f"Stream '{self.name}': saved state resume={resume!r} is unusable; reading the list whole."
            )
            return {}
        return dict(resume)

    @property
    def key_fields(self) -> list[str]:
        return [self.primary_key] if isinstance(self.primary_key, str) else list(self.primary_key)

    def _key_ledger(self, sync_mode: SyncMode) -> KeyLedger | None:
        if not (self.tracks_deletions and self.context.config.emit_deletions):
            return None
        if sync_mode != SyncMode.incremental:
            return None
        return KeyLedger.from_state(self.key_fields, self.state, self._resume(), self._warn)

    def _warn(self, text: str) -> None:
        self.logger.warning(f"Stream '{self.name}': {text}")

    def stream_slices(
        self,
        *,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | None]:
        # Made lazily: each slice's page cursor is known only once the page before it is read. One
        # walk spans the slices, so a repeated cursor or a run of empty pages is seen across them.
        start = self._resume().get("start")
        self.walk = self.new_walk(start, saved=True)
        self.next_page = None
        self.ledger = self._key_ledger(sync_mode)
        self.answers_without_records = 0
        yield {"start": start, "one_page": True}
        while self.next_page is not None:
            yield {"start": self.next_page, "one_page": True}

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[StreamData]:
        key = self.cursor_field
        saved = self.saved_timestamp(key)
        floor = self.lower_bound(sync_mode, saved)
        resumed_highest = self._resume().get("highest")
        candidates = [v for v in (saved, resumed_highest) if isinstance(v, int)]
        highest = max(candidates) if candidates else None
        ledger = self.ledger
        for record in super().read_records(sync_mode, cursor_field, stream_slice, stream_state):  # type: ignore[misc]
            value = record.get(key) if isinstance(record, Mapping) else None
            unseen = ledger.see(record) if ledger is not None and isinstance(record, Mapping) else False
            if isinstance(value, int):
                if floor is not None and value < floor and not unseen:
                    continue
                if highest is None or value > highest:
                    highest = value
            yield record
        if self.forbidden:
            return  # skipped (403): the saved state stands, keys included
        kept, in_pass = ledger.progress() if ledger is not None else ({}, {})
        if self.next_page is not None:
            self.state = {
                **({key: saved} if saved is not None else {}),
                **kept,
                "resume": {"start": self.next_page, "highest": highest, **in_pass},
            }
            return
        if ledger is not None:
            yield from self._deletions(ledger, highest)
        self.state = {
            **({key: highest} if highest is not None else {}),
            **(ledger.complete() if ledger is not None else {}),
        }

    def _deletions(self, ledger: KeyLedger, highest: int | None) -> Iterator[StreamData]:
        """Tombstones for the keys the last complete read listed and this one did not (after asking
        the API about each, where `recheck` can)."""
        if self.answers_without_records:
            self.logger.warning(
                f"Stream '{self.name}': {self.answers_without_records} answer(s) carried no list of "
                "records, which may be an empty list or a failure; no deletions are inferred from this "
                "read, and the keys of the last complete read are kept."
            )
            ledger.keep(ledger.missing())
            return
        missing = ledger.missing()
        if not missing:
            return
        gone: list[Key] = []
        for key, record in self.recheck(missing):
            if record is None:
                gone.append(key)
            elif record:
                ledger.see(record)
                yield record
            else:
                ledger.keep([key])
        # The read time, or the saved cursor if the API's clock is ahead of ours: a tombstone must not
        # lose the destination's dedup (latest cursor wins) to the last record it replaces.
        cursor = max(self.context.now, highest or 0)
        deleted_at = rfc3339(self.context.now)
        for key in gone:
            yield tombstone(self.key_fields, key, self.cursor_field, cursor, deleted_at)
        self.logger.info(
            f"Stream '{self.name}': {len(gone)} record(s) listed by the last complete read are gone "
            f"(tombstones emitted, {DELETED_AT}={deleted_at}); {len(missing) - len(gone)} more were not "
            "listed but still exist."
        )

    def recheck(self, keys: list[Key]) -> Iterator[tuple[Key, Mapping[str, Any] | None]]:
        """(key, its record) for each key the read did not list: None when it is gone, an empty
        mapping when it exists but its record could not be read (kept, not emitted). A list read in
        one answer is its own proof: every key is gone."""
        for key in keys:
            yield key, None
