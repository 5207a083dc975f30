"""The customer export file: its bytes on disk, its header, a survey of its rows, and its rows as people.

No Customer.io document describes the file (🔶): not its compression, not its columns. What is accepted,
each with the sandbox switch that produces it:
- gzip or plain, whatever `Content-Encoding` says: the first bytes decide (`Quirks.export_compression`);
- a UTF-8 byte-order mark before the header (`Quirks.export_bom`);
- columns in any order, and columns nobody documents (`export_column_order`, `export_extra_columns`):
  `cio_id`, `id` and `email` are found by name, every other column is kept in `attributes`;
- no `cio_id` column at all (`export_cio_id_column`): people_join.py finds each person's cio_id;
- quoted cells (JSON values such as `cio_subscription_preferences`) and empty cells (an attribute the
  person does not have, left out of `attributes` as hydration leaves it out).

Rows are parsed by `csv.reader` over a buffered text file (C speed); a record is built straight from the
cells, in the schema's types, with no other pass over it.
"""

from __future__ import annotations

import csv
import gzip
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from typing import IO, Any

from source_customerio.streams.attribute_columns import AttributeColumns, to_string

GZIP_MAGIC = b"\x1f\x8b"
COPY_CHUNK = 1 << 20
READ_BUFFER = 1 << 16
SAMPLE_SIZE = 100
# Rows without a cio_id that may be resolved one hydration at a time (100 a request) before the file is
# judged unusable.
UNKEYED_CAP = 2_000
IDENTIFIERS = ("cio_id", "id", "email")


def decompress_if_gzip(path: Path) -> bool:
    """Replace the downloaded file by its gzip content when it starts with gzip's magic bytes."""
    with open(path, "rb") as head:
        if head.read(2) != GZIP_MAGIC:
            return False
    packed = path.with_suffix(".gz")
    path.rename(packed)
    with gzip.open(packed, "rb") as source, open(path, "wb") as target:
        shutil.copyfileobj(source, target, COPY_CHUNK)
    packed.unlink()
    return True


def open_text(path: Path) -> IO[str]:
    # utf-8-sig drops a byte-order mark; newline="" lets csv see quoted line breaks as they are.
    return open(path, encoding="utf-8-sig", newline="", buffering=READ_BUFFER)


@dataclass(frozen=True)
class Layout:
    """The header, and where the identifier columns are (None: not in the file)."""

    names: tuple[str, ...]
    cio_id: int | None
    id: int | None
    email: int | None

    @classmethod
    def of(cls, header: list[str]) -> Layout:
        names = tuple(name.strip() for name in header)
        lowered = [name.lower() for name in names]

        def find(wanted: str) -> int | None:
            for candidates in (names, lowered):
                if wanted in candidates:
                    return candidates.index(wanted)
            return None

        return cls(names, find("cio_id"), find("id"), find("email"))

    @property
    def key(self) -> tuple[str, int] | None:
        """The identifier a row is looked up by (id_type, column): cio_id, else id, else email."""
        for id_type in IDENTIFIERS:
            column = getattr(self, id_type)
            if column is not None:
                return id_type, column
        return None

    def cells(self, row: list[str]) -> dict[str, str]:
        return {name: value for name, value in zip(self.names, row, strict=False) if value}


def read_layout(path: Path) -> Layout | None:
    with open_text(path) as text:
        header = next(csv.reader(text), None)
    return Layout.of(header) if header else None


@dataclass
class Survey:
    """One pass over the file before anything is emitted: what reconciliation and the checks need."""

    layout: Layout
    rows: int = 0
    ragged: int = 0  # rows whose number of cells differs from the header's
    sample: list[list[str]] = field(default_factory=list)
    # Rows with a cio_id column but an empty cell: (position, id, email), the first UNKEYED_CAP + 1.
    unkeyed: list[tuple[int, str | None, str | None]] = field(default_factory=list)
    unkeyed_count: int = 0


def survey(path: Path, layout: Layout, sample_size: int = SAMPLE_SIZE) -> Survey:
    """Count the data rows (blank lines are not rows) and pick a sample spread over the whole file: rows
    are kept every `step` rows, and when twice the sample is held every other one is dropped and the step
    doubles, so the sample ends up evenly spaced without knowing the length in advance."""
    result = Survey(layout)
    width = len(layout.names)
    key = layout.key
    key_column = key[1] if key else None
    cio_column = layout.cio_id
    sample = result.sample
    step, next_pick = 1, 1
    position = ragged = 0
    with open_text(path) as text:
        reader = csv.reader(text)
        next(reader, None)
        for row in reader:
            if not row:
                continue
            position += 1
            if len(row) != width:
                ragged += 1
                continue
            if cio_column is not None and not row[cio_column]:
                result.unkeyed_count += 1
                if len(result.unkeyed) <= UNKEYED_CAP:
                    result.unkeyed.append((position, _cell(row, layout.id), _cell(row, layout.email)))
            if position >= next_pick and key_column is not None and row[key_column]:
                sample.append(row)
                next_pick = position + step
                if len(sample) >= 2 * sample_size:
                    del sample[1::2]
                    step *= 2
    result.rows, result.ragged = position, ragged
    if len(sample) > sample_size:
        result.sample = [sample[k * len(sample) // sample_size] for k in range(sample_size)]
    return result


def _cell(row: list[str], column: int | None) -> str | None:
    return (row[column] or None) if column is not None else None


class PersonRows:
    """The file's rows from a position on, as person records; `position` counts data rows consumed
    (emitted, or left out as people deleted since the export)."""

    def __init__(
        self,
        path: Path,
        layout: Layout,
        resolved: Mapping[int, str | None],
        attribute_columns: AttributeColumns | None = None,
    ) -> None:
        if layout.cio_id is None:
            raise ValueError("PersonRows needs a file with a cio_id column")
        self.layout = layout
        self.resolved = resolved
        # Typed attribute columns: each a cell index and its coercer, found once for the header; string
        # columns take the cell as it is (no call: this is the hot path of a million-person export).
        plan = attribute_columns.plan(layout.names) if attribute_columns else []
        self.typed_texts = [(index, column) for index, column, coerce in plan if coerce is to_string]
        self.typed_values = [entry for entry in plan if entry[2] is not to_string]
        self.position = 0
        self._text = open_text(path)
        self._reader = csv.reader(self._text)
        next(self._reader, None)

    def skip(self, rows: int) -> None:
        reader, position = self._reader, self.position
        while position < rows:
            row = next(reader, None)
            if row is None:
                break
            if row:
                position += 1
        self.position = position

    def take(self, limit: int) -> Iterator[dict[str, Any]]:
        """Up to `limit` more data rows; a row whose person has no cio_id is resolved through
        `resolved` (position -> cio_id) or, when it maps to None, left out."""
        layout = self.layout
        names = layout.names
        ci = layout.cio_id
        ii, ei = layout.id, layout.email
        resolved = self.resolved
        typed_texts, typed_values = self.typed_texts, self.typed_values
        width = len(names)
        position = self.position
        end = position + limit
        assert ci is not None
        try:
            for row in self._reader:
                if not row:
                    continue
                position += 1
                if len(row) < width:
                    row += [""] * (width - len(row))
                cio_id = row[ci]
                # The non-empty cells by name, in C: `compress` keeps a pair where the cell is not "".
                attributes = dict(compress(zip(names, row, strict=False), row))
                if not cio_id:
                    found = resolved.get(position)
                    if found is None:
                        if position >= end:
                            break
                        continue
                    cio_id = attributes["cio_id"] = found
                id_ = (row[ii] or None) if ii is not None else None
                email = (row[ei] or None) if ei is not None else None
                record = {
                    "cio_id": cio_id,
                    "id": id_,
                    "email": email,
                    "identifiers": {"cio_id": cio_id, "id": id_, "email": email},
                    "attributes": attributes,
                }
                for index, column in typed_texts:
                    cell = row[index]
                    if cell:
                        record[column] = cell
                for index, column, coerce in typed_values:
                    cell = row[index]
                    if cell:
                        record[column] = coerce(cell)
                yield record
                if position >= end:
                    break
        finally:
            self.position = position

    def close(self) -> None:
        self._text.close()
