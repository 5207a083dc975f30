"""The rows of a checked customer export file as person records: as dicts (`take`), or as the JSON text
the connector's entrypoint writes (`take_json`), which is the hot path of a million-person export.

A row becomes:
    {"cio_id", "id", "email", "identifiers": {cio_id, id, email}, "attributes": {non-empty cells by name},
     attr_<name>: typed attribute columns (attribute_columns.py)}
`take_json` writes a row straight from its cells when every cell is its own JSON string between quotes,
as orjson writes it: the line holds no double quote (or its quoted cells need only theirs escaped) and,
in the file or the line, no backslash and no control character (`needs_escapes`); any other row goes
through the dict and orjson. Its text leaves out the record's top-level nulls, as the CDK's serializer
does (records.py); unit_tests/test_export_rows.py pins it to the dicts, as the CDK writes them, on rows
of every kind.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import compress
from pathlib import Path
from typing import Any

import orjson

from source_customerio.records import without_nulls
from source_customerio.streams.attribute_columns import AttributeColumns, to_string
from source_customerio.streams.export_file import DataLines, Layout, needs_escapes


def _key(name: str) -> str:
    return orjson.dumps(name).decode()


def _escaped(row: list[str], width: int, plain: bool) -> list[str] | None:
    """The cells of a row read from quoted CSV, each as it stands between quotes in JSON, when the
    only escapes they need are of double quotes and the row is as wide as the header; else None.
    U+001F joins them for two passes in C: in a `plain` file (see `needs_escapes`) none holds one and
    only a quoted line break needs a look; else a cell holding one fails the count."""
    flat = "\x1f".join(row)
    if plain:
        if len(row) != width or "\n" in flat or "\r" in flat:
            return None
    elif flat.count("\x1f") != width - 1 or "\\" in flat or not flat.replace("\x1f", "").isprintable():
        return None
    return flat.replace('"', '\\"').split("\x1f")


class PersonRows:
    """The file's rows from a position on; `position` counts data rows consumed (emitted, or left out
    as people deleted since the export)."""

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
        # For take_json: '","name":"' before each cell; with a name twice in the header a dict keeps the
        # last cell, so such a file takes the dict path throughout.
        self._prefixes = ['",' + _key(name) + ':"' for name in layout.names]
        self._writes_text = len(set(layout.names)) == len(layout.names)
        self._typed_prefixes = [(index, "," + _key(column) + ":") for index, column in self.typed_texts]
        self._valued_prefixes = [
            (index, "," + _key(column) + ":", coerce) for index, column, coerce in self.typed_values
        ]
        # Files without a backslash or a control character but line breaks (most) need no per-line look.
        self._plain = not needs_escapes(path)
        self.position = 0
        self._lines = DataLines(path)

    def skip(self, rows: int) -> None:
        position = self.position
        for row in self._lines.rows() if position < rows else ():
            if row:
                position += 1
                if position >= rows:
                    break
        self.position = position

    def take(self, limit: int) -> Iterator[dict[str, Any]]:
        """Up to `limit` more data rows; a row whose person has no cio_id is resolved through
        `resolved` (position -> cio_id) or, when it maps to None, left out."""
        position = self.position
        end = position + limit
        record = self._record
        try:
            for row in self._lines.rows() if position < end else ():
                if not row:
                    continue
                position += 1
                made = record(row, position)
                if made is not None:
                    yield made
                if position >= end:
                    break
        finally:
            self.position = position

    def take_json(self, limit: int) -> list[str]:
        """What `take(limit)` gives, as the JSON text of each record without its top-level nulls."""
        layout = self.layout
        ci, ii, ei = layout.cio_id, layout.id, layout.email
        assert ci is not None
        width = len(layout.names)
        plain = self._plain
        prefixes = self._prefixes
        typed = self._typed_prefixes or self._valued_prefixes
        writes_text = self._writes_text
        row_of, record, dumps = self._lines.row, self._record, orjson.dumps
        out: list[str] = []
        append = out.append
        position = self.position
        end = position + limit
        for line in self._lines.lines if position < end else ():
            if '"' in line:
                row = row_of(line)
                cells = _escaped(row, width, plain) if writes_text else None
            else:
                body = line.rstrip("\r\n")
                if not body:
                    continue
                row = body.split(",")
                fits = writes_text and len(row) == width
                cells = row if fits and (plain or ("\\" not in body and body.isprintable())) else None
            position += 1
            if cells is not None and cells[ci]:
                cio_id = cells[ci]
                id_ = cells[ii] if ii is not None else ""
                email = cells[ei] if ei is not None else ""
                # '","name":"' and the cell, for each non-empty cell, interleaved by slices and joined in
                # C without a string per pair; the first '",' cut, and '"}' closes.
                kept = list(compress(cells, cells))
                parts = kept + kept
                parts[::2] = compress(prefixes, cells)
                parts[1::2] = kept
                attributes = "".join(parts)[2:]
                if id_ and email:  # most people: one f-string
                    text = (
                        f'{{"cio_id":"{cio_id}","id":"{id_}","email":"{email}","identifiers":{{"cio_id":'
                        f'"{cio_id}","id":"{id_}","email":"{email}"}},"attributes":{{{attributes}"}}'
                    )
                else:
                    text = self._identified(cio_id, id_, email) + f',"attributes":{{{attributes}"}}'
                if typed:
                    text += self._typed_json(cells, row)
                append(text + "}")
            else:
                made = record(row, position)
                if made is not None:
                    append(dumps(without_nulls(made)).decode())
            if position >= end:
                break
        self.position = position
        return out

    @staticmethod
    def _identified(cio_id: str, id_: str, email: str) -> str:
        """A record's text up to its attributes, for a person without an id or an email."""
        text = f'{{"cio_id":"{cio_id}"'
        if id_:
            text += f',"id":"{id_}"'
        if email:
            text += f',"email":"{email}"'
        id_json = f'"{id_}"' if id_ else "null"
        email_json = f'"{email}"' if email else "null"
        return text + f',"identifiers":{{"cio_id":"{cio_id}","id":{id_json},"email":{email_json}}}'

    def _typed_json(self, cells: list[str], row: list[str]) -> str:
        """The typed columns of a row as JSON members: string cells as written (`cells`, escaped),
        other values coerced from the row's own cells."""
        text = ""
        for index, prefix in self._typed_prefixes:
            cell = cells[index]
            if cell:
                text += f'{prefix}"{cell}"'
        for index, prefix, coerce in self._valued_prefixes:
            cell = row[index]
            if cell:
                value = coerce(cell)
                if value is not None:
                    text += prefix + orjson.dumps(value).decode()
        return text

    def _record(self, row: list[str], position: int) -> dict[str, Any] | None:
        """The record of the data row at `position`; None for a row left out."""
        layout = self.layout
        names = layout.names
        ci, ii, ei = layout.cio_id, layout.id, layout.email
        assert ci is not None
        width = len(names)
        if len(row) < width:
            row += [""] * (width - len(row))
        cio_id = row[ci]
        # The non-empty cells by name, in C: `compress` keeps a pair where the cell is not "".
        attributes = dict(compress(zip(names, row, strict=False), row))
        if not cio_id:
            found = self.resolved.get(position)
            if found is None:
                return None
            cio_id = attributes["cio_id"] = found
        id_ = (row[ii] or None) if ii is not None else None
        email = (row[ei] or None) if ei is not None else None
        made: dict[str, Any] = {
            "cio_id": cio_id,
            "id": id_,
            "email": email,
            "identifiers": {"cio_id": cio_id, "id": id_, "email": email},
            "attributes": attributes,
        }
        for index, column in self.typed_texts:
            cell = row[index]
            if cell:
                made[column] = cell
        for index, column, coerce in self.typed_values:
            cell = row[index]
            if cell:
                made[column] = coerce(cell)
        return made

    def close(self) -> None:
        self._lines.close()
