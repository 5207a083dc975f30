"""Each exported person's cio_id, when the export file has no `cio_id` column.

Nothing documents the file's columns (🔶; sandbox switch `Quirks.export_cio_id_column`). Without a cio_id
column the file's rows are joined, on `id` (else a unique `email`), with an identifiers-only people search:
1,000 people a request, kept on disk in SQLite rather than in memory. The search is a chain of pages
(each page's cursor comes with the page before), so it is split into disjoint searches that run side by
side under the shared request budget: "has / has not" one or two attributes that about half the people
have (people_filter.partition). Each person matches exactly one of them, so the union is the whole search.

The joined file is written again with a `cio_id` column first, so it is read like any other export file.
"""

from __future__ import annotations

import csv
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from source_customerio.http.pagination import CursorPagination
from source_customerio.streams.export_file import IDENTIFIERS, UNKEYED_CAP, Layout, open_text
from source_customerio.streams.people_search import SEARCH_PAGE_SIZE

# A filter for the whole partition is split on this many attributes at most (2 -> 4 searches).
PARTITION_ATTRIBUTES = 2
# An attribute splits the people usefully when this share of them has it, or more, and not all.
BALANCE = (0.15, 0.85)
LOG_EVERY_PAGES = 100

Search = Callable[[dict[str, Any], "str | None"], Any]


def balanced_attributes(
    layout: Layout, sample: list[list[str]], known: Iterable[str], limit: int = PARTITION_ATTRIBUTES
) -> list[str]:
    """The attributes (columns hydration also knows) whose share in the sample is nearest one half."""
    if not sample:
        return []
    wanted = set(known) - set(IDENTIFIERS)
    shares = []
    for column, name in enumerate(layout.names):
        if name in wanted:
            share = sum(1 for row in sample if row[column]) / len(sample)
            if BALANCE[0] <= share <= BALANCE[1]:
                shares.append((abs(share - 0.5), name))
    return [name for _, name in sorted(shares)[:limit]]


class IdentifierIndex:
    """cio_id by id and by email, in an SQLite file (only the thread that made it may use it)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-4000", "temp_store=FILE"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute("CREATE TABLE people (cio_id TEXT NOT NULL, id TEXT, email TEXT)")
        self.people = 0

    def add(self, identifiers: list[Any]) -> None:
        rows = [
            (str(i["cio_id"]), _text(i.get("id")), _text(i.get("email")))
            for i in identifiers
            if isinstance(i, dict) and i.get("cio_id") not in (None, "")
        ]
        self.db.executemany("INSERT INTO people VALUES (?, ?, ?)", rows)
        self.db.commit()  # to the file: memory holds only SQLite's page cache
        self.people += len(rows)

    def clear(self) -> None:
        self.db.execute("DELETE FROM people")
        self.db.commit()
        self.people = 0

    def finish(self) -> None:
        self.db.execute("CREATE INDEX by_id ON people (id)")
        self.db.execute("CREATE INDEX by_email ON people (email)")
        self.db.commit()

    def lookup(self) -> Callable[[str | None, str | None], str | None]:
        """cio_id for an (id, email): by id; else by an email exactly one person has."""
        by_id = self.db.cursor()
        by_email = self.db.cursor()

        def cio_id(id_: str | None, email: str | None) -> str | None:
            if id_:
                found = by_id.execute("SELECT cio_id FROM people WHERE id = ? LIMIT 1", (id_,)).fetchone()
                if found:
                    return str(found[0])
            if email:
                matches = by_email.execute(
                    "SELECT DISTINCT cio_id FROM people WHERE email = ? LIMIT 2", (email,)
                ).fetchall()
                if len(matches) == 1:
                    return str(matches[0][0])
            return None

        return cio_id

    def close(self) -> None:
        self.db.close()


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def collect(
    search: Search, filters: list[dict[str, Any]], index: IdentifierIndex, logger: logging.Logger
) -> None:
    """Every page of every filter's search into `index`; the searches run side by side.

    The first error (a refused filter included) stops them all and is raised here."""
    pages: queue.Queue[list[Any] | BaseException | None] = queue.Queue(maxsize=8 * len(filters))
    stop = threading.Event()

    def chain(people_filter: dict[str, Any]) -> None:
        paginator = CursorPagination(SEARCH_PAGE_SIZE)
        start: str | None = None
        try:
            while not stop.is_set():
                page = search(people_filter, start)
                identifiers = page.get("identifiers") if isinstance(page, dict) else None
                identifiers = identifiers if isinstance(identifiers, list) else []
                _put(pages, identifiers, stop)
                following = paginator.next_params(page, len(identifiers))
                if following is None:
                    break
                start = following["start"]
            _put(pages, None, stop)
        except BaseException as error:
            _put(pages, error, stop)

    threads = [
        threading.Thread(target=chain, args=(f,), name=f"customers-ids-{n}", daemon=True)
        for n, f in enumerate(filters)
    ]
    for thread in threads:
        thread.start()
    running, received = len(threads), 0
    try:
        while running:
            item = pages.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                index.add(item)
                received += 1
                if received % LOG_EVERY_PAGES == 0:
                    logger.info(
                        f"Stream 'customers': identifiers of {index.people:,} people read "
                        f"({received:,} search pages, {len(filters)} searches side by side)."
                    )
    finally:
        stop.set()


def _put(pages: queue.Queue[Any], item: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            pages.put(item, timeout=0.2)
            return
        except queue.Full:
            continue


def write_keyed(
    source: Path, layout: Layout, index: IdentifierIndex, target: Path
) -> tuple[Layout, list[tuple[int, str | None, str | None]], int]:
    """`source` again as `target`, with a `cio_id` column first (empty where no one matched).

    Returns the new layout, the unmatched rows (position, id, email), the first UNKEYED_CAP + 1 of
    them, and their count."""
    cio_id = index.lookup()
    ii, ei = layout.id, layout.email
    unkeyed: list[tuple[int, str | None, str | None]] = []
    missing = position = 0
    with open_text(source) as text, open(target, "w", encoding="utf-8", newline="") as out:
        reader, writer = csv.reader(text), csv.writer(out, lineterminator="\n")
        next(reader, None)
        writer.writerow(["cio_id", *layout.names])
        for row in reader:
            if not row:
                continue
            position += 1
            id_ = row[ii] if ii is not None and ii < len(row) else None
            email = row[ei] if ei is not None and ei < len(row) else None
            found = cio_id(id_, email)
            if found is None:
                missing += 1
                if len(unkeyed) <= UNKEYED_CAP:
                    unkeyed.append((position, id_ or None, email or None))
            writer.writerow([found or "", *row])
    return Layout.of(["cio_id", *layout.names]), unkeyed, missing
