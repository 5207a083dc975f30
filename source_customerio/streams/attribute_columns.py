"""Typed columns for people's custom attributes: `attr_<name>` beside `attributes` in `customers` records.

What Customer.io documents (docs.customer.io/journeys/attributes): attribute values are "a string, boolean or
a number", and attribute names are case sensitive (`first_name` and `First_name` are two attributes). The
App API's examples send every value as a string (`"created_at": "1489014595"`), and the customer export is a
CSV file, so text. 🔶 Whether hydration may also send JSON numbers and booleans is not documented: every value
is read through its text form (`text_of`), so both forms give the same column value and both people paths
(export file, search and hydration) give identical columns (sandbox switch `hydration_native_values`).

Column names (`column_name`) depend on the attribute's name only, never on the sample:
- `attr_` + the name, when the name is already clean: lower-case ASCII letters and digits in groups joined
  by single underscores, optionally one leading underscore, at most 48 characters (`created_at`,
  `_last_emailed`, `9lives`);
- otherwise `attr_` + a sanitised form (accents dropped, lower case, every run of other characters one
  `_`, cut to 48) + `__` + 8 hex characters of a hash of the exact name (`Signup Source` ->
  `attr_signup_source__…`). A clean name never holds `__`, a hashed one always does, so the two never meet;
  two names that sanitise alike (`Plan`, `plan`) differ by their hash.
The `attr_` prefix keeps every column clear of the record's own fields (`cio_id`, `id`, `email`,
`attributes`, ...). The identifiers `cio_id`, `id` and `email` are top-level fields already: no column.

Types come from a sample (discover): boolean when every value is `true`/`false` (any case); integer when
every value is a whole number in 64 bits (`"42"`, `"42.0"`); number when every value is a finite decimal;
else string. Values with a leading zero (`"02134"`) keep the column a string. An integer column whose name
reads like a time (`…_at`, `…_date`, `last_…`) and whose values all fall in 2000-2100 as unix seconds is
marked `"format": "unix timestamp"` (the format Customer.io's OpenAPI document gives its own unix times); it
stays an integer. A read coerces with the column's function, chosen once per column: a value that does not
fit is null in the column; `attributes` keeps every value as it came. Empty values are no value: an export
file cannot tell `""` from an absent attribute, so neither path gives them a column value.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

PREFIX = "attr_"
IDENTIFIER_ATTRIBUTES = frozenset({"cio_id", "id", "email"})
MAX_STEM = 48
HASH_HEX = 8
# Warehouses limit a table's columns (PostgreSQL and Redshift: 1,600): the most frequent attributes of the
# sample get columns, the others stay in `attributes` (a warning says how many).
MAX_COLUMNS = 500
UNIX_TIME_FORMAT = "unix timestamp"
UNIX_TIME_RANGE = (946_684_800, 4_102_444_800)  # 2000-01-01 .. 2100-01-01, in seconds
INT64 = (-(1 << 63), (1 << 63) - 1)

_CLEAN = re.compile(r"_?[a-z0-9]+(?:_[a-z0-9]+)*\Z")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_INTEGRAL = re.compile(r"-?\d+(?:\.0*)?\Z", re.ASCII)
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\Z", re.ASCII)
_LEADING_ZERO = re.compile(r"-?0\d", re.ASCII)
_TIME_NAME = re.compile(r"(?:_at|_ts|_time|_date|timestamp)\Z|\A_?(?:last|first)_", re.IGNORECASE)
_BOOLEANS = {"true": True, "false": False}

Coercer = Callable[[str], Any]


def column_name(raw: str) -> str | None:
    """The column of attribute `raw`; None for the identifiers, which are top-level fields already."""
    if raw in IDENTIFIER_ATTRIBUTES:
        return None
    if len(raw) <= MAX_STEM and _CLEAN.match(raw):
        return PREFIX + raw
    folded = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii").lower()
    stem = _NOT_ALNUM.sub("_", folded).strip("_")[:MAX_STEM].rstrip("_")
    digest = hashlib.blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=HASH_HEX // 2).hexdigest()
    return f"{PREFIX}{stem}__{digest}"


# -- values ---------------------------------------------------------------------------------------------


def text_of(value: Any) -> str | None:
    """A value as the export file would write it; None for no value (null or empty)."""
    if isinstance(value, str):
        return value or None
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return orjson.dumps(value).decode()


def to_integer(text: str) -> int | None:
    if text.isascii() and text.isdigit():  # the common case: "1489014595"
        value = int(text)
    elif _INTEGRAL.match(text):
        value = int(text.split(".", 1)[0])
    else:
        return None
    return value if INT64[0] <= value <= INT64[1] else None


def to_number(text: str) -> float | None:
    if not _NUMBER.match(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def to_boolean(text: str) -> bool | None:
    return _BOOLEANS.get(text.lower())


def to_string(text: str) -> str:
    return text


COERCERS: dict[str, Coercer] = {
    "boolean": to_boolean,
    "integer": to_integer,
    "number": to_number,
    "string": to_string,
}


def infer_kind(texts: Sequence[str]) -> str:
    """The narrowest kind every sampled value fits (see the module docstring)."""
    if not texts:
        return "string"
    if all(to_boolean(t) is not None for t in texts):
        return "boolean"
    if any(_LEADING_ZERO.match(t) for t in texts):
        return "string"
    integers = [to_integer(t) for t in texts]
    if all(i is not None for i in integers):
        return "integer"
    if any(_INTEGRAL.match(t) for t, i in zip(texts, integers, strict=True) if i is None):
        return "string"  # a whole number past 64 bits: an identifier, not a quantity
    if all(to_number(t) is not None for t in texts):
        return "number"
    return "string"


def is_unix_time(raw: str, texts: Sequence[str]) -> bool:
    """An integer attribute named like a time whose values all fall in 2000-2100 as unix seconds."""
    if not texts or not _TIME_NAME.search(raw):
        return False
    low, high = UNIX_TIME_RANGE
    return all((n := to_integer(t)) is not None and low <= n <= high for t in texts)


# -- the columns of one sync ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    raw: str | None = None  # known at discover, not needed at read
    unix_time: bool = False
    declared: Mapping[str, Any] | None = None  # the catalog's property, at read

    def schema(self) -> dict[str, Any]:
        if self.declared is not None:
            return dict(self.declared)
        article = "an" if self.kind == "integer" else "a"
        what = "unix time in seconds" if self.unix_time else f"{article} {self.kind}"
        prop: dict[str, Any] = {
            "type": ["null", self.kind],
            "description": f"Custom attribute {self.raw!r} as {what}, from `attributes`; null when a value "
            "does not fit.",
        }
        if self.unix_time:
            prop["format"] = UNIX_TIME_FORMAT
        return prop


Plan = list[tuple[int, str, Coercer]]


class AttributeColumns:
    """The typed columns of one sync: from a sample at discover, from the configured catalog at read."""

    def __init__(self, columns: Iterable[Column] = ()) -> None:
        self.columns = {c.name: c for c in columns}
        self.notes: list[str] = []  # what a discover left out, for its warning
        # attribute name -> (column, coercer), or None for an attribute without a column
        self._targets: dict[str, tuple[str, Coercer] | None] = {}

    def __bool__(self) -> bool:
        return bool(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    @classmethod
    def from_schema(cls, schema: Mapping[str, Any] | None) -> AttributeColumns:
        """The typed columns a configured catalog's `customers` schema declares (what the user accepted)."""
        columns = []
        properties = (schema or {}).get("properties")
        for name, prop in (properties if isinstance(properties, Mapping) else {}).items():
            if not name.startswith(PREFIX) or not isinstance(prop, Mapping):
                continue
            declared = prop.get("type")
            kinds = {declared} if isinstance(declared, str) else set(declared or ())
            kinds.discard("null")
            if len(kinds) == 1 and (kind := kinds.pop()) in COERCERS:
                unix = prop.get("format") == UNIX_TIME_FORMAT
                columns.append(Column(name, kind, unix_time=unix, declared=prop))
        return cls(columns)

    @classmethod
    def from_sample(cls, people: Iterable[Mapping[str, Any]], limit: int = MAX_COLUMNS) -> AttributeColumns:
        """Columns for the attributes of sampled people (hydration records), typed by their values."""
        values: dict[str, list[str]] = {}
        for person in people:
            attributes = person.get("attributes")
            if not isinstance(attributes, Mapping):
                continue
            for raw, value in attributes.items():
                text = text_of(value)
                if text is not None and isinstance(raw, str) and raw not in IDENTIFIER_ATTRIBUTES:
                    values.setdefault(raw, []).append(text)
        by_column: dict[str, list[str]] = {}
        for raw in values:
            by_column.setdefault(column_name(raw) or "", []).append(raw)
        made = cls()
        clashes = sorted(raws for raws in by_column.values() if len(raws) > 1)
        if clashes:
            made.notes.append(f"attributes whose column names clash were left out: {clashes}")
        kept = [raws[0] for raws in by_column.values() if len(raws) == 1]
        ranked = sorted(kept, key=lambda raw: (-len(values[raw]), raw))
        if len(ranked) > limit:
            made.notes.append(
                f"{len(ranked) - limit} attributes beyond the {limit} most frequent got no column"
            )
        for raw in sorted(ranked[:limit]):
            texts = values[raw]
            kind = infer_kind(texts)
            name = column_name(raw)
            assert name is not None
            unix = kind == "integer" and is_unix_time(raw, texts)
            made.columns[name] = Column(name, kind, raw, unix)
        return made

    def properties(self) -> dict[str, dict[str, Any]]:
        return {name: column.schema() for name, column in sorted(self.columns.items())}

    def target(self, raw: str) -> tuple[str, Coercer] | None:
        """The column and coercer of attribute `raw`, or None; remembered per name."""
        try:
            return self._targets[raw]
        except KeyError:
            pass
        name = column_name(raw)
        column = self.columns.get(name) if name is not None else None
        found = (column.name, COERCERS[column.kind]) if column is not None else None
        self._targets[raw] = found
        return found

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        """Set the typed columns of one hydrated person from its `attributes` (search path)."""
        attributes = record.get("attributes")
        if not self.columns or not isinstance(attributes, dict):
            return record
        for raw, value in attributes.items():
            found = self.target(raw)
            if found is None:
                continue
            text = value if type(value) is str else text_of(value)
            if text:
                record[found[0]] = found[1](text)
        return record

    def plan(self, names: Sequence[str]) -> Plan:
        """(cell index, column, coercer) for the columns of an export file's header (export path)."""
        plan: Plan = []
        for index, raw in enumerate(names):
            found = self.target(raw)
            if found is not None:
                plan.append((index, found[0], found[1]))
        return plan
