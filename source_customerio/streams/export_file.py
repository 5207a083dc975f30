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

Rows are read line by line (`data_rows`): a line without a double quote is split on its commas, which
is what `csv.reader` makes of it at a third of the cost; a line with one goes to `csv.reader`, which takes
the lines after it when a quoted cell spans lines. Person records are made in export_rows.py.
"""

from __future__ import annotations

import csv
import gzip
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

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


# Bytes a JSON string writes escaped, but for the double quote: a quoted cell holds those (export_rows.py).
ESCAPED_BYTES = [bytes([byte]) for byte in range(0x20) if byte not in b"\r\n"] + [b"\\"]


def needs_escapes(path: Path) -> bool:
    """Whether the file holds a byte a JSON string escapes, but for double quotes and line breaks (which
    only a quoted cell may hold): a backslash or a control character. A memchr per byte and 1 MB chunk:
    about a third of what one pass of bytes.translate costs."""
    with open(path, "rb") as raw:
        while chunk := raw.read(COPY_CHUNK):
            if any(byte in chunk for byte in ESCAPED_BYTES):
                return True
    return False


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


class DataLines:
    """The file's lines after the header, and the row a line starts (`row`); `lines` is the bare line
    iterator, for loops that split quote-free lines themselves (export_rows.py)."""

    def __init__(self, path: Path) -> None:
        self.text = open_text(path)
        self.lines: Iterator[str] = iter(self.text)
        self._pending: str | None = None
        self._csv = csv.reader(self._fed())
        first = next(self.lines, None)
        if first is not None:
            self.row(first)  # the header, as csv.reader reads it (it may be quoted, or span lines)

    def _fed(self) -> Iterator[str]:
        while True:
            pending, self._pending = self._pending, None
            if pending is None:
                pending = next(self.lines, None)
                if pending is None:
                    return
            yield pending

    def row(self, line: str) -> list[str]:
        """The cells of the row that starts on `line`: csv.reader's reading, with the lines after it
        when a quoted cell goes on past the line's end. [] for a blank line, as csv.reader gives."""
        if '"' not in line:
            body = line.rstrip("\r\n")
            return body.split(",") if body else []
        self._pending = line
        return next(self._csv, [])

    def rows(self) -> Iterator[list[str]]:
        """Every row left, as csv.reader would give them."""
        row = self.row
        for line in self.lines:
            yield row(line)

    def close(self) -> None:
        self.text.close()

    def __enter__(self) -> DataLines:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


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
    commas = width - 1
    with DataLines(path) as lines:
        row_of = lines.row
        for line in lines.lines:
            if '"' in line:
                row = row_of(line)
            else:
                body = line.rstrip("\r\n")
                if not body:
                    continue
                # Most rows: as wide as the header, with a cio_id, not picked; counted without a split.
                if (
                    position + 1 < next_pick
                    and body.count(",") == commas
                    and (
                        cio_column is None
                        or (body[0] != "," if cio_column == 0 else body.split(",", cio_column + 1)[-2])
                    )
                ):
                    position += 1
                    continue
                row = body.split(",")
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
