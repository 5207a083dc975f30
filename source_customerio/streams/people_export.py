"""Reading one finished customer export: download it whole to a temporary folder, check it, then emit it.

Nothing is emitted before the file is known to be right: its header is read, its data rows are counted
against the export's `total`, a sample of its people is cross-checked with hydration, and every row gets a
cio_id (export_check.py). A file that fails raises `ExportMismatchError` with the numbers, before its first
record, so that `customers_method: auto` can read people by search instead without emitting anyone twice.
State `{"export_id", "rows_done"}` counts data rows in file order, so a read killed part-way downloads and
checks the same export again and goes on after the rows it had done.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from source_customerio.errors import RequestRefusedError
from source_customerio.records import BATCH_ROWS, RecordBatch, render_json
from source_customerio.streams.attribute_columns import AttributeColumns
from source_customerio.streams.customer_export import CustomerExport
from source_customerio.streams.export_check import Reconciliation, cross_check
from source_customerio.streams.export_file import (
    UNKEYED_CAP,
    Layout,
    decompress_if_gzip,
    read_layout,
    survey,
)
from source_customerio.streams.export_rows import PersonRows
from source_customerio.streams.people_filter import PeopleFilter, partition
from source_customerio.streams.people_join import IdentifierIndex, balanced_attributes, collect, write_keyed
from source_customerio.streams.people_search import HYDRATE_BATCH, Hydrator, identity_key

Fetch = Callable[[list[str], str], list[Any]]
Search = Callable[[dict[str, Any], "str | None"], Any]


class ExportMismatchError(Exception):
    def __init__(self, reconciliation: Reconciliation) -> None:
        super().__init__("; ".join(reconciliation.problems))
        self.reconciliation = reconciliation


class ExportReader:
    def __init__(
        self,
        export: dict[str, Any],
        exporter: CustomerExport,
        fetch: Fetch,
        search: Search,
        people_filter: PeopleFilter,
        logger: logging.Logger,
        attribute_columns: AttributeColumns | None = None,
    ) -> None:
        self.export_id = int(export["id"])
        self.attribute_columns = attribute_columns
        self.export = export
        self.exporter = exporter
        # A hydrator of its own: people the checks miss are not the search's missing people.
        self.hydrate = Hydrator(fetch)
        self.search = search
        self.people_filter = people_filter
        self.logger = logger
        self.folder = Path(tempfile.mkdtemp(prefix="source-customerio-export-"))
        self.rows: PersonRows | None = None
        self.reconciliation = Reconciliation(self.export_id)

    @property
    def position(self) -> int:
        return self.rows.position if self.rows is not None else 0

    def prepare(self) -> Reconciliation:
        """Download and check the file; ExportMismatchError when it is not all of the export."""
        path = self.folder / "export.csv"
        size = self.exporter.download(self.export_id, path)
        gzipped = decompress_if_gzip(path)
        found = self.reconciliation
        total = self.export.get("total")
        found.total = total if isinstance(total, int) and not isinstance(total, bool) else None
        layout = read_layout(path)
        self.logger.info(
            f"Stream 'customers': export {self.export_id} downloaded ({size:,} bytes"
            f"{', gzip' if gzipped else ''}); columns: {', '.join(layout.names) if layout else 'none'}."
        )
        if layout is None or layout.key is None:
            found.check_counts()
            if layout is not None or found.total:
                found.problems.append("the file has no cio_id, id or email column")
            if found.problems:
                raise ExportMismatchError(found)
            return found  # an empty file of an empty export
        surveyed = survey(path, layout)
        found.rows, found.ragged = surveyed.rows, surveyed.ragged
        checked = cross_check(layout, surveyed.sample, self.hydrate, _int(self.export.get("created_at")))
        found.sampled, found.sampled_found = checked.sampled, checked.found
        found.problems += checked.problems
        found.check_counts()
        if found.problems:
            raise ExportMismatchError(found)
        unkeyed, unkeyed_count = surveyed.unkeyed, surveyed.unkeyed_count
        if layout.cio_id is None:
            path, layout, unkeyed, unkeyed_count = self._join(
                path, layout, balanced_attributes(layout, surveyed.sample, checked.known)
            )
        resolved = self._resolve(unkeyed, unkeyed_count)
        found.check_counts()
        if found.problems:
            raise ExportMismatchError(found)
        self.rows = PersonRows(path, layout, resolved, self.attribute_columns)
        return found

    def _join(
        self, path: Path, layout: Layout, attributes: list[str]
    ) -> tuple[Path, Layout, list[tuple[int, str | None, str | None]], int]:
        index = IdentifierIndex(self.folder / "identifiers.sqlite")
        try:
            while True:
                base = self.people_filter.current
                filters = partition(base, attributes)
                self.logger.info(
                    f"Stream 'customers': export {self.export_id}'s file has no cio_id column; finding each "
                    f"person's cio_id with an identifiers-only search ({len(filters)} side by side"
                    f"{', split on ' + ' and '.join(attributes) if attributes else ''})."
                )
                try:
                    collect(self.search, filters, index, self.logger)
                    break
                except RequestRefusedError as refused:
                    index.clear()
                    if attributes:
                        self.logger.info(
                            f"Stream 'customers': the split search was refused ({refused.detail}); "
                            "searching in one chain."
                        )
                        attributes = []
                    elif not self.people_filter.refused(refused, base):
                        raise
            index.finish()
            keyed = self.folder / "keyed.csv"
            layout, unkeyed, count = write_keyed(path, layout, index, keyed)
        finally:
            index.close()
        path.unlink()
        return keyed, layout, unkeyed, count

    def _resolve(
        self, unkeyed: list[tuple[int, str | None, str | None]], count: int
    ) -> dict[int, str | None]:
        """cio_ids of rows that have none, one hydration by id (else email) per 100 rows; None for a
        person hydration does not know any more (deleted since the export)."""
        found = self.reconciliation
        if count > UNKEYED_CAP:
            found.unkeyed = count
            return {}
        resolved: dict[int, str | None] = {}
        for id_type, slot in (("id", 1), ("email", 2)):
            rows = [row for row in unkeyed if row[slot] and row[0] not in resolved]
            for start in range(0, len(rows), HYDRATE_BATCH):
                batch = rows[start : start + HYDRATE_BATCH]
                people = self.hydrate([str(row[slot]) for row in batch], id_type)
                by_value = {identity_key(p.get(id_type), id_type): p["cio_id"] for p in people}
                for row in batch:
                    resolved[row[0]] = by_value.get(identity_key(row[slot], id_type))
        found.unkeyed = sum(1 for row in unkeyed if row[0] not in resolved)
        found.deleted = sum(1 for cio_id in resolved.values() if cio_id is None)
        if resolved:
            self.logger.info(
                f"Stream 'customers': {len(resolved) - found.deleted:,} rows of export {self.export_id} "
                f"without a cio_id were matched by hydration; {found.deleted:,} people are gone."
            )
        return resolved

    def skip(self, rows: int) -> None:
        if self.rows is not None:
            self.rows.skip(rows)

    def take(self, limit: int) -> Iterator[dict[str, Any]]:
        return self.rows.take(limit) if self.rows is not None else iter(())

    def batches(self, stream: str, limit: int) -> Iterator[RecordBatch]:
        """What `take(limit)` gives, as RecordBatches of RECORD lines, BATCH_ROWS rows at a time."""
        rows = self.rows
        if rows is None:
            return
        end = rows.position + limit
        while rows.position < end:
            before = rows.position
            asked = min(BATCH_ROWS, end - before)
            texts = rows.take_json(asked)
            if texts:
                yield RecordBatch.of_lines(stream, render_json(stream, texts), len(texts))
            if rows.position - before < asked:
                return  # the end of the file

    def close(self) -> None:
        if self.rows is not None:
            self.rows.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
