"""Typed attribute columns on their own: the column names, the inferred kinds, the coercion of values, and
the two ways of filling columns (a hydrated person, an export row) agreeing with each other."""

from __future__ import annotations

import hashlib
import re

import pytest
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader

from source_customerio.streams.attribute_columns import (
    UNIX_TIME_FORMAT,
    AttributeColumns,
    column_name,
    infer_kind,
    is_unix_time,
    text_of,
    to_boolean,
    to_integer,
    to_number,
)

HOSTILE = [
    "created_at", "_last_emailed", "9lives", "plan", "Plan", "PLAN", "plan.tier", "plan_tier", "plan-tier",
    "Signup Source", "signup-source", "signup_source", "prénom", "prenom", "attributes", "ID", "a__b", "a_b",
    "日本語", "中文", "", " ", "x" * 60, "x" * 61, "Ünïcödé Name", "cio_id_2", "email address",
]  # fmt: skip


def blake(raw: str) -> str:
    return hashlib.blake2b(raw.encode(), digest_size=4).hexdigest()


@pytest.mark.parametrize(
    ("raw", "column"),
    [
        ("created_at", "attr_created_at"),
        ("_last_emailed", "attr__last_emailed"),
        ("9lives", "attr_9lives"),
        ("attributes", "attr_attributes"),
        ("Plan", f"attr_plan__{blake('Plan')}"),
        ("Signup Source", f"attr_signup_source__{blake('Signup Source')}"),
        ("signup-source", f"attr_signup_source__{blake('signup-source')}"),
        ("plan.tier", f"attr_plan_tier__{blake('plan.tier')}"),
        ("prénom", f"attr_prenom__{blake('prénom')}"),
        ("a__b", f"attr_a_b__{blake('a__b')}"),
        ("日本語", f"attr___{blake('日本語')}"),
        ("id", None),
        ("email", None),
        ("cio_id", None),
    ],
)
def test_column_names_follow_the_documented_mapping(raw, column):
    assert column_name(raw) == column


def test_hostile_names_give_distinct_safe_columns_clear_of_the_record_fields():
    columns = [column_name(raw) for raw in HOSTILE]
    assert len(set(columns)) == len(HOSTILE), "two attribute names share a column"
    own_fields = set(ResourceSchemaLoader("source_customerio").get_schema("customers")["properties"])
    for raw, column in zip(HOSTILE, columns, strict=True):
        assert column is not None and column not in own_fields
        assert re.fullmatch(r"attr_[a-z0-9_]+", column), column
        assert len(column) <= 63, "longer than PostgreSQL's identifiers"
        # A hashed name always holds "__"; a name kept as it is never does.
        assert ("__" in column.removeprefix("attr_")) == (column != f"attr_{raw}"), (raw, column)


@pytest.mark.parametrize(
    ("texts", "kind"),
    [
        (["1", "42", "-7", "1489014595"], "integer"),
        (["42", "42.0"], "integer"),
        (["12.5", "40", "1e3", ".5"], "number"),
        (["true", "false", "TRUE", "False"], "boolean"),
        (["1", "0"], "integer"),  # not booleans
        (["02134", "10001"], "string"),  # a leading zero: zip codes, not numbers
        (["7", "seven"], "string"),
        (["123456789012345678901234"], "string"),  # past 64 bits: an identifier
        (["NaN"], "string"),
        (["Infinity", "1"], "string"),
        (["1_000"], "string"),
        ([" 42"], "string"),
        (["٤٢"], "string"),  # Arabic-Indic digits: int() takes them, the API does not mean a number
        (['{"topics":{"topic_1":true}}'], "string"),
        ([], "string"),
    ],
)
def test_kinds_are_inferred_from_every_sampled_value(texts, kind):
    assert infer_kind(texts) == kind


@pytest.mark.parametrize(
    ("text", "integer", "number", "boolean"),
    [
        ("42", 42, 42.0, None),
        ("-7", -7, -7.0, None),
        ("42.0", 42, 42.0, None),
        ("12.5", None, 12.5, None),
        ("1e999", None, None, None),
        ("9223372036854775807", 9223372036854775807, 9.223372036854776e18, None),
        ("9223372036854775808", None, 9.223372036854776e18, None),
        ("true", None, None, True),
        ("FALSE", None, None, False),
        ("yes", None, None, None),
        ("", None, None, None),
        ("n/a", None, None, None),
    ],
)
def test_values_are_coerced_or_null(text, integer, number, boolean):
    assert (to_integer(text), to_number(text), to_boolean(text)) == (integer, number, boolean)


@pytest.mark.parametrize(
    ("value", "text"),
    [("42", "42"), (42, "42"), (12.5, "12.5"), (True, "true"), (False, "false"), ("", None), (None, None),
     ({"a": [1, True]}, '{"a":[1,true]}')],
)  # fmt: skip
def test_values_are_read_as_the_export_file_writes_them(value, text):
    assert text_of(value) == text


@pytest.mark.parametrize(
    ("raw", "texts", "unix"),
    [
        ("created_at", ["1489014595", "1700000000"], True),
        ("_last_emailed", ["1528932553"], True),
        ("trial_end_date", ["1528932553"], True),
        ("created_at", ["1489014595", "42"], False),  # 42 is no time of this century
        ("created_at", ["1489014595000"], False),  # milliseconds: the unit is not clear
        ("score", ["1489014595"], False),  # a number, whatever its size
    ],
)
def test_unix_times_are_told_by_name_and_range(raw, texts, unix):
    assert is_unix_time(raw, texts) is unix


def sample() -> list[dict]:
    return [
        {"attributes": {"id": "1", "email": "a@x", "cio_id": "3", "age": "34", "vip": "true", "zip": "02134",
                        "created_at": "1700000000", "ltv": "12.5", "Signup Source": "web", "empty": ""}},
        {"attributes": {"age": "41", "vip": "false", "zip": "10001", "created_at": "1700000100", "ltv": "40",
                        "Signup Source": "ios"}},
        {"attributes": "not an object"},
        {},
    ]  # fmt: skip


def test_a_sample_gives_one_typed_nullable_column_per_attribute():
    properties = AttributeColumns.from_sample(sample()).properties()
    assert {name: prop["type"] for name, prop in properties.items()} == {
        "attr_age": ["null", "integer"],
        "attr_vip": ["null", "boolean"],
        "attr_zip": ["null", "string"],
        "attr_created_at": ["null", "integer"],
        "attr_ltv": ["null", "number"],
        f"attr_signup_source__{blake('Signup Source')}": ["null", "string"],
    }
    assert properties["attr_created_at"]["format"] == UNIX_TIME_FORMAT
    assert "format" not in properties["attr_age"]
    assert "'Signup Source'" in properties[f"attr_signup_source__{blake('Signup Source')}"]["description"]


def test_only_the_most_frequent_attributes_get_columns_past_the_limit():
    people = [*sample(), {"attributes": {"age": "50", "created_at": "1700000200"}}]
    columns = AttributeColumns.from_sample(people, limit=3)
    # age and created_at are the most frequent (3); among the rest (2 each), the first name in code-point
    # order: capitals first.
    signup = f"attr_signup_source__{blake('Signup Source')}"
    assert set(columns.properties()) == {"attr_age", "attr_created_at", signup}
    assert columns.notes == ["3 attributes beyond the 3 most frequent got no column"]


def test_a_read_takes_the_columns_the_configured_schema_declares():
    declared = {
        "properties": {
            "cio_id": {"type": "string"},
            "attr_age": {"type": ["null", "integer"]},
            "attr_vip": {"type": "boolean"},
            "attr_odd": {"type": ["null", "integer", "string"]},  # not one kind: not ours
            "attr_obj": {"type": ["null", "object"]},
            "attributes": {"type": ["null", "object"]},
        }
    }
    columns = AttributeColumns.from_schema(declared)
    assert set(columns.properties()) == {"attr_age", "attr_vip"}
    assert columns.properties()["attr_vip"] == {"type": "boolean"}  # the catalog's words, kept
    assert not AttributeColumns.from_schema(None) and not AttributeColumns.from_schema({})


def test_a_hydrated_person_and_an_export_row_fill_the_same_columns():
    columns = AttributeColumns.from_schema(
        {"type": "object", "properties": AttributeColumns.from_sample(sample()).properties()}
    )
    as_strings = {"age": "34", "vip": "true", "zip": "02134", "created_at": "1700000000", "ltv": "12.5",
                  "Signup Source": "web", "unknown": "x", "id": "1"}  # fmt: skip
    as_json = {**as_strings, "age": 34, "vip": True, "created_at": 1700000000, "ltv": 12.5}
    expected = {"attr_age": 34, "attr_vip": True, "attr_zip": "02134", "attr_created_at": 1700000000,
                "attr_ltv": 12.5, f"attr_signup_source__{blake('Signup Source')}": "web"}  # fmt: skip

    def typed(record: dict) -> dict:
        return {k: v for k, v in record.items() if k.startswith("attr_")}

    assert typed(columns.apply({"attributes": as_strings})) == expected
    assert typed(columns.apply({"attributes": as_json})) == expected
    header = ["cio_id", "id", *as_strings]
    row = ["3", "1", *as_strings.values()]
    from_file = {column: coerce(row[index]) for index, column, coerce in columns.plan(header)}
    assert from_file == expected


def test_values_that_do_not_fit_are_null_and_empty_ones_absent():
    columns = AttributeColumns.from_schema(
        {"properties": {"attr_age": {"type": ["null", "integer"]}, "attr_vip": {"type": ["null", "boolean"]}}}
    )
    record = columns.apply({"attributes": {"age": "unknown", "vip": ""}})
    assert record == {"attributes": {"age": "unknown", "vip": ""}, "attr_age": None}
