"""Bring API records whose JSON types drift from the documentation back to the stream's schema.

Seen in Customer.io answers: ids that are strings in one record and integers in the next, `cio_id`
as an integer, broadcast `tags` of "nil". Only fields whose type is wrong are touched, and only where
the conversion loses nothing; anything else is left for the destination to see as sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}
_NIL_STRINGS = {"nil", "null", ""}
# Shapes of clean records remembered per schema: bounded, whatever the records look like.
MAX_SHAPES = 256


def _kinds(prop: Mapping[str, Any]) -> set[str]:
    declared = prop.get("type", [])
    kinds = {declared} if isinstance(declared, str) else set(declared)
    kinds.discard("null")
    return kinds


def _coerce(value: Any, kinds: set[str]) -> Any:
    if isinstance(value, str) and value.strip().lower() in _NIL_STRINGS and "string" not in kinds:
        return None
    if "integer" in kinds and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if "integer" in kinds and isinstance(value, float) and value.is_integer():
        return int(value)
    if "number" in kinds and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if "string" in kinds and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if "boolean" in kinds and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if "array" in kinds and isinstance(value, str):
        return [value]
    return value


class RecordNormalizer:
    """Checks the top-level fields and the fields of nested objects against the schema."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._checks: list[tuple[str, set[str], tuple[type, ...]]] = []
        self._nested: list[tuple[str, RecordNormalizer]] = []
        for name, prop in (schema.get("properties") or {}).items():
            kinds = _kinds(prop)
            if not kinds:
                continue
            allowed = tuple(t for kind in kinds for t in _PYTHON_TYPES.get(kind, ()))
            self._checks.append((name, kinds, allowed))
            if kinds == {"object"} and prop.get("properties"):
                self._nested.append((name, RecordNormalizer(prop)))
        # Whether a record's top-level fields need a change depends only on the Python types of their
        # values: the types of records seen needing none, by field, make the fast path. Records of one
        # stream come in a handful of such shapes.
        self._names = tuple(name for name, _, _ in self._checks)
        self._clean_shapes: set[tuple[type, ...]] = set()

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        shape = tuple(map(type, map(record.get, self._names)))
        clean_shapes = self._clean_shapes
        if shape not in clean_shapes and self._fix_top_level(record) and len(clean_shapes) < MAX_SHAPES:
            clean_shapes.add(shape)
        for name, nested in self._nested:
            value = record.get(name)
            if isinstance(value, dict):
                nested(value)
        return record

    def _fix_top_level(self, record: dict[str, Any]) -> bool:
        """Bring the top-level fields to the schema's types; whether none needed it."""
        clean = True
        for name, kinds, allowed in self._checks:
            value = record.get(name)
            if value is None:
                continue
            # bool is an int in Python; a schema integer must not accept True.
            if isinstance(value, allowed) and not (isinstance(value, bool) and "boolean" not in kinds):
                continue
            clean = False
            record[name] = _coerce(value, kinds)
        return clean
