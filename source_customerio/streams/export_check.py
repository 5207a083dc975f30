"""Whether an export file is the whole export, and says what hydration says: decided before any of it
is emitted.

- Reconciliation: the data rows of the file = the export's `total` (when it gives one); every row gets
  a cio_id (from its column, the join, or one hydration by id or email); rows whose person hydration no
  longer finds were deleted after the export and are left out, counted.
- Cross-check (every export read): the documentation calls export `attributes` "extra columns", so a file
  may hold only some attributes (🔶; `Quirks.export_attributes_only_when_asked`). One batch of sampled
  people is hydrated and compared with their rows: the people, the attribute names and the values must
  match. An attribute set at or after the export's creation (hydration's `timestamps`) may differ.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from source_customerio.streams.export_file import Layout
from source_customerio.streams.people_search import identity_key, mapping

# Of the sampled people, this share may be missing from hydration (deleted since the export).
MISSING_TOLERANCE = 0.05

Hydrate = Callable[[list[str], str], list[dict[str, Any]]]


@dataclass
class Reconciliation:
    export_id: int
    rows: int = 0
    total: int | None = None
    ragged: int = 0
    unkeyed: int = 0  # rows no cio_id could be found for
    deleted: int = 0  # rows whose person hydration no longer knows: left out
    sampled: int = 0
    sampled_found: int = 0
    problems: list[str] = field(default_factory=list)

    def numbers(self) -> str:
        total = "none given" if self.total is None else f"{self.total:,}"
        return (
            f"export {self.export_id}: {self.rows:,} data rows in the file, export total {total}, "
            f"{self.ragged:,} rows with a wrong number of cells, {self.unkeyed:,} rows without a cio_id, "
            f"{self.deleted:,} people deleted since the export, {self.sampled_found:,} of {self.sampled:,} "
            "sampled people found by hydration"
        )

    def check_counts(self) -> None:
        if self.total is not None and self.rows != self.total:
            self.problems.append(
                f"the file has {self.rows:,} data rows but the export's total is {self.total:,}"
            )
        if self.ragged:
            self.problems.append(f"{self.ragged:,} rows do not have as many cells as the header")
        if self.unkeyed:
            self.problems.append(f"{self.unkeyed:,} rows could not be given a cio_id")


def same_value(cell: str, value: Any) -> bool:
    """A CSV cell against a JSON value from hydration (attribute values are mostly strings)."""
    if isinstance(value, str):
        return cell == value
    if isinstance(value, bool):
        return cell.lower() == ("true" if value else "false")
    if isinstance(value, (int, float)):
        try:
            return float(cell) == float(value)
        except ValueError:
            return False
    try:
        return bool(orjson.loads(cell) == value)
    except orjson.JSONDecodeError:
        return cell == str(value)


@dataclass
class CrossCheck:
    sampled: int = 0
    found: int = 0
    known: set[str] = field(default_factory=set)  # attribute names hydration returned
    problems: list[str] = field(default_factory=list)


def cross_check(layout: Layout, sample: list[list[str]], hydrate: Hydrate, since: int | None) -> CrossCheck:
    """Hydrate the sampled rows' people (one request) and compare them with their rows.

    `since`: the export's creation time; attributes hydration says were set at or after it may differ."""
    result = CrossCheck(sampled=len(sample))
    key = layout.key
    if not sample or key is None:
        return result
    id_type, column = key
    people = hydrate([row[column] for row in sample], id_type)
    by_key = {identity_key(p.get(id_type), id_type): p for p in people}
    columns = set(layout.names)
    absent: Counter[str] = Counter()
    differing: Counter[str] = Counter()
    for row in sample:
        person = by_key.get(identity_key(row[column], id_type))
        if person is None:
            continue
        result.found += 1
        cells = layout.cells(row)
        stamps = mapping(person.get("timestamps"))
        for name, value in _expected(person).items():
            result.known.add(name)
            if value in (None, "") or _set_since(stamps.get(name), since):
                continue
            if name not in columns:
                # A file without a cio_id column is joined to the search instead (people_join.py).
                if name != "cio_id":
                    absent[name] += 1
            elif name not in cells or not same_value(cells[name], value):
                differing[name] += 1
    missing = result.sampled - result.found
    if missing > MISSING_TOLERANCE * result.sampled:
        result.problems.append(
            f"hydration by {id_type} found only {result.found} of {result.sampled} sampled people"
        )
    if absent:
        result.problems.append(
            "the file has no column for attributes hydration returns for the same people: " + _counted(absent)
        )
    if differing:
        result.problems.append(
            "the file's values differ from hydration's for attributes set before the export: "
            + _counted(differing)
        )
    return result


def _expected(person: Mapping[str, Any]) -> dict[str, Any]:
    identifiers = mapping(person.get("identifiers"))
    expected = {
        k: v for k, v in identifiers.items() if k in ("cio_id", "id", "email") and v not in (None, "")
    }
    expected.update(mapping(person.get("attributes")))
    return expected


def _set_since(stamp: Any, since: int | None) -> bool:
    return since is not None and isinstance(stamp, (int, float)) and stamp >= since


def _counted(names: Counter[str]) -> str:
    return ", ".join(f"{name} ({n} people)" for name, n in sorted(names.items()))
