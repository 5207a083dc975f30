"""Type normalisation: values whose JSON type drifts from the schema are brought back, losslessly."""

from __future__ import annotations

import pytest

from source_customerio import SourceCustomerio
from source_customerio.streams.normalize import RecordNormalizer
from unit_tests.builders import ConfigBuilder

SCHEMA = {
    "type": "object",
    "properties": {
        "count": {"type": ["null", "integer"]},
        "ratio": {"type": ["null", "number"]},
        "label": {"type": ["null", "string"]},
        "flag": {"type": ["null", "boolean"]},
        "tags": {"type": ["null", "array"]},
        "data": {"type": ["null", "object"]},
        "anything": {},
        "nested": {
            "type": ["null", "object"],
            "properties": {"at": {"type": ["null", "integer"]}, "who": {"type": ["null", "string"]}},
        },
    },
}
normalize = RecordNormalizer(SCHEMA)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("count", "5", 5),
        ("count", "-3", -3),
        ("count", " 12 ", 12),
        ("count", 7.0, 7),
        ("count", 7.5, 7.5),
        ("count", "abc", "abc"),
        ("count", "1.5", "1.5"),
        ("count", True, True),
        ("count", "nil", None),
        ("count", "", None),
        ("ratio", "1.5", 1.5),
        ("ratio", 2, 2),
        ("ratio", "x", "x"),
        ("label", 42, "42"),
        ("label", 1.5, "1.5"),
        ("label", True, True),
        ("label", "nil", "nil"),
        ("label", "", ""),
        ("flag", True, True),
        ("flag", False, False),
        ("flag", "true", True),
        ("flag", "FALSE", False),
        ("flag", "yes", "yes"),
        ("flag", 1, 1),
        ("flag", "null", None),
        ("tags", "vip", ["vip"]),
        ("tags", "nil", None),
        ("tags", ["a"], ["a"]),
        ("data", "nil", None),
        ("data", {"k": "5"}, {"k": "5"}),
        ("anything", "5", "5"),
    ],
)
def test_a_top_level_value(field, value, expected):
    record = normalize({field: value})
    assert record[field] == expected
    assert type(record[field]) is type(expected)


def test_nested_object_fields_are_normalised_too():
    record = normalize({"nested": {"at": "17", "who": 42, "extra": "5"}})
    assert record["nested"] == {"at": 17, "who": "42", "extra": "5"}


def test_null_absent_and_unknown_fields_are_left_alone():
    record = normalize({"count": None, "unknown": "5", "label": "ok"})
    assert record == {"count": None, "unknown": "5", "label": "ok"}


def test_records_of_a_shape_seen_clean_are_still_checked_where_their_types_differ():
    # One long-lived normaliser, as a stream uses it: the shapes it remembers as clean must not let a
    # record through whose values have other types, nor skip nested objects.
    normalizer = RecordNormalizer(SCHEMA)
    records = [
        {"count": 1, "label": "a", "nested": {"at": 1}},
        {"count": "2", "label": "b", "nested": {"at": "3"}},
        {"count": 4, "label": 5, "nested": {"at": 6}},
        {"count": 7, "label": "c", "nested": {"at": "8"}},
        {"count": True, "label": "d"},
        {"count": 9.0, "label": "e"},
        {"count": 10, "label": "f", "flag": "true"},
        {"count": 11, "label": "g", "nested": None},
    ]
    expected = [
        {"count": 1, "label": "a", "nested": {"at": 1}},
        {"count": 2, "label": "b", "nested": {"at": 3}},
        {"count": 4, "label": "5", "nested": {"at": 6}},
        {"count": 7, "label": "c", "nested": {"at": 8}},
        {"count": True, "label": "d"},
        {"count": 9, "label": "e"},
        {"count": 10, "label": "f", "flag": True},
        {"count": 11, "label": "g", "nested": None},
    ]
    for _ in range(2):  # the second time round every shape has been seen
        copies = [{**r, "nested": dict(r["nested"])} if r.get("nested") else dict(r) for r in records]
        out = [normalizer(record) for record in copies]
        assert out == expected
        assert [type(r["count"]) for r in out] == [type(r["count"]) for r in expected]


def test_the_record_is_normalised_in_place_and_returned():
    record = {"count": "1"}
    assert normalize(record) is record
    assert record == {"count": 1}


@pytest.fixture(scope="module")
def streams():
    return {s.name: s for s in SourceCustomerio().streams(ConfigBuilder().build())}


@pytest.mark.parametrize(
    ("stream", "raw", "expected"),
    [
        (
            "campaigns",
            {"id": "5", "updated": "1700000000", "active": True},
            {"id": 5, "updated": 1_700_000_000, "active": True},
        ),
        ("customers", {"cio_id": 42, "id": "p1"}, {"cio_id": "42", "id": "p1"}),
        ("broadcasts", {"id": 1, "tags": "nil"}, {"id": 1, "tags": None}),
        ("workspaces", {"id": 13, "people": "10"}, {"id": "13", "people": 10}),
        ("types", {"id": 1, "enabled": "false"}, {"id": "1", "enabled": False}),
        ("ip_addresses", {"id": "10.0.0.1"}, {"id": "10.0.0.1"}),
        (
            "eps_suppression",
            {"email": "a@example.com", "created": "5"},
            {"email": "a@example.com", "created": 5},
        ),
        (
            "messages",
            {"id": 99, "campaign_id": "3", "metrics": {"sent": "17"}, "customer_identifiers": {"cio_id": 4}},
            {"id": "99", "campaign_id": 3, "metrics": {"sent": 17}, "customer_identifiers": {"cio_id": "4"}},
        ),
    ],
)
def test_the_stream_schemas_drive_normalisation(stream, raw, expected, streams):
    assert streams[stream].normalize(dict(raw)) == expected
