"""A lazy table: records are generated from their index on demand; mutations live in a small overlay.

Base records are a pure function of (seed, stream, index). Inserted records get indices after the base
range and remember only their birth time; updates remember only the new cursor value. So a million-row
stream costs nothing until a page of it is asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .util import DAY, Draw, Permutation, salt

Record = dict[str, Any]
# build(index, born): born is the insertion time for records added by a mutation, else None.
Builder = Callable[[int, "int | None"], Record]


@dataclass(frozen=True)
class Ctx:
    seed: int
    anchor: int  # "now" when the sandbox was made; generated history ends a minute before it

    def draw(self, stream: str, *parts: int) -> Draw:
        return Draw(self.seed, salt(stream), *parts)

    def times(self, d: Draw, born: int | None, oldest_days: int = 700) -> tuple[int, int]:
        """(created, updated) for a generated record; updated >= created, both at least 60 s old."""
        if born is not None:
            return born, born
        newest = self.anchor - 60
        created = newest - d.between(DAY, oldest_days * DAY)
        return created, created + d.below(newest - created + 1)


class Table:
    """One list stream. Listing order is a fixed shuffle of the base rows, then inserted rows in order."""

    def __init__(
        self,
        ctx: Ctx,
        name: str,
        base_count: int,
        build: Builder,
        *,
        key_field: str = "id",
        cursor_field: str | None = None,
        id_base: int = 1,
        shuffle: bool = True,
    ) -> None:
        self.ctx = ctx
        self.name = name
        self.base_count = base_count
        self.key_field = key_field
        self.cursor_field = cursor_field
        self.id_base = id_base
        self._build = build
        self._order = Permutation(base_count, ctx.seed, salt(name), 7) if shuffle else None
        self._born: dict[int, int] = {}
        self._updates: dict[int, int] = {}
        self._count = base_count
        self._lock = threading.Lock()
        self._mutations = 0

    @property
    def count(self) -> int:
        return self._count

    def id_of(self, index: int) -> int:
        return self.id_base + index

    def index_of(self, id_value: str) -> int | None:
        try:
            index = int(id_value) - self.id_base
        except ValueError:
            return None
        return index if 0 <= index < self._count else None

    def record(self, index: int) -> Record:
        rec = self._build(index, self._born.get(index))
        bumped = self._updates.get(index)
        if bumped is not None and self.cursor_field is not None:
            rec[self.cursor_field] = bumped
            if "deduplicate_id" in rec:
                rec["deduplicate_id"] = f"{rec['id']}:{bumped}"
        return rec

    def at(self, position: int) -> int:
        """Index of the record shown at a listing position."""
        if self._order is not None and position < self.base_count:
            return self._order(position)
        return position

    def records(self) -> Iterator[Record]:
        for position in range(self._count):
            yield self.record(self.at(position))

    def key(self, rec: Record) -> str:
        return str(rec[self.key_field])

    def max_cursor(self) -> int | None:
        if self.cursor_field is None:
            return None
        values = [r.get(self.cursor_field) for r in self.records()]
        ints = [v for v in values if isinstance(v, int)]
        return max(ints) if ints else None

    def insert(self, n: int, now: int) -> list[int]:
        with self._lock:
            start = self._count
            for index in range(start, start + n):
                self._born[index] = now
            self._count = start + n
            return list(range(start, start + n))

    def update(self, n: int, now: int) -> list[int]:
        with self._lock:
            self._mutations += 1
            d = Draw(self.ctx.seed, salt(self.name), 99, self._mutations)
            picked: list[int] = []
            seen: set[int] = set()
            while len(picked) < min(n, self._count):
                index = d.below(self._count)
                if index not in seen:
                    seen.add(index)
                    picked.append(index)
            for index in picked:
                self._updates[index] = now
            return picked
