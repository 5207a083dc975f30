"""A destination in Incremental | Append + Deduped mode, by hand: what its final table holds after a
series of syncs. The rule Airbyte's destinations apply: for each primary key, the record with the
latest cursor wins (a null cursor loses; a tie goes to the record extracted later); the row is then
deleted when that record has `_ab_cdc_deleted_at` set."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

DELETED_AT = "_ab_cdc_deleted_at"


def final_table(
    syncs: Iterable[Iterable[Mapping[str, Any]]], primary_key: Sequence[str], cursor: str
) -> dict[str, dict[str, Any]]:
    """`"|".join(key values)` -> the row, for the records of each sync in the order they were emitted."""
    latest: dict[str, tuple[tuple[bool, Any, int], dict[str, Any]]] = {}
    order = 0
    for records in syncs:
        for record in records:
            order += 1
            key = "|".join(str(record.get(field)) for field in primary_key)
            value = record.get(cursor)
            rank = (value is not None, value if value is not None else 0, order)
            if key not in latest or rank >= latest[key][0]:
                latest[key] = (rank, dict(record))
    return {key: row for key, (_, row) in latest.items() if row.get(DELETED_AT) is None}
