"""A lazy table: records are generated from their index on demand; mutations live in a small overlay.

Base records are a pure function of (seed, stream, index). Inserted records get indices after the base
range and remember only their birth time; updates remember only the new cursor value; deleted records
only their index (a table with deletions lists its remaining indices, computed once per change). So a
million-row stream costs nothing until a page of it is asked for.
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
        self._deleted: set[int] = set()
        # The indices still listed, by listing order (None, "asc", "desc"), while there are deletions.
        self._listed: dict[str | None, list[int]] = {}
        self._count = base_count
        self._lock = threading.Lock()
        self._mutations = 0

    @property
    def count(self) -> int:
        return self._count - len(self._deleted)

    def indices(self) -> list[int]:
        """The indices of the records that exist (not deleted), in index order."""
        return [i for i in range(self._count) if i not in self._deleted]

    def id_of(self, index: int) -> int:
        return self.id_base + index

    def index_of(self, id_value: str) -> int | None:
        try:
            index = int(id_value) - self.id_base
        except ValueError:
            return None
        return index if 0 <= index < self._count and index not in self._deleted else None

    def record(self, index: int) -> Record:
        rec = self._build(index, self._born.get(index))
        bumped = self._updates.get(index)
        if bumped is not None and self.cursor_field is not None:
            rec[self.cursor_field] = bumped
            if "deduplicate_id" in rec:
                rec["deduplicate_id"] = f"{rec['id']}:{bumped}"
        return rec

    def at(self, position: int, order: str | None = None) -> int:
        """Index of the record shown at a listing position: in the list's own order, or by id ("asc",
        "desc"). A deletion moves every later record one position up."""
        if self._deleted:
            listed = self._listed.get(order)
            if listed is None:
                every = (self._slot(p, order) for p in range(self._count))
                listed = self._listed[order] = [i for i in every if i not in self._deleted]
            return listed[position]
        return self._slot(position, order)

    def _slot(self, position: int, order: str | None) -> int:
        if order == "asc":
            return position
        if order == "desc":
            return self._count - 1 - position
        if self._order is not None and position < self.base_count:
            return self._order(position)
        return position

    def records(self) -> Iterator[Record]:
        for position in range(self.count):
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
            self._listed.clear()
            return list(range(start, start + n))

    def update(self, n: int, now: int) -> list[int]:
        with self._lock:
            picked = self._pick(n)
            for index in picked:
                self._updates[index] = now
            return picked

    def delete(self, n: int) -> list[int]:
        """Delete n records still listed, chosen at random: they leave the listing and `index_of`."""
        with self._lock:
            picked = self._pick(n)
            self._deleted.update(picked)
            self._listed.clear()
            return picked

    def delete_indices(self, indices: list[int]) -> None:
        with self._lock:
            self._deleted.update(indices)
            self._listed.clear()

    def _pick(self, n: int) -> list[int]:
        self._mutations += 1
        d = Draw(self.ctx.seed, salt(self.name), 99, self._mutations)
        picked: list[int] = []
        seen: set[int] = set()
        while len(picked) < min(n, self.count):
            index = d.below(self._count)
            if index not in seen and index not in self._deleted:
                seen.add(index)
                picked.append(index)
        return picked
