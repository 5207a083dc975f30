"""Typed attribute columns through the connector: discover samples a few people (and only discover does), a
sample that fails leaves the schema fixed with a warning, and a read fills the columns the configured catalog
declares, the same on both people paths."""

from __future__ import annotations

from typing import Any

import pytest
from airbyte_cdk.models import Level, Status
from airbyte_cdk.test.entrypoint_wrapper import discover

from source_customerio import SourceCustomerio
from unit_tests.builders import (
    ConfigBuilder,
    calls_to,
    check,
    connection_status,
    log_lines,
    mock_api,
    query,
    read_stream,
    records_of,
)
from unit_tests.people_api import FakePeople


def typed_people(count: int) -> list[dict[str, Any]]:
    """People with attributes of every kind; person 3 has values the others' columns do not fit."""
    made = []
    for n in range(1, count + 1):
        attributes = {
            "created_at": str(1_700_000_000 + n),
            "age": str(20 + n % 50),
            "ltv": f"{n % 300}.25",
            "vip": "true" if n % 2 else "false",
            "zip": f"0{n % 9000:04d}",
            "Signup Source": "web" if n % 3 else "ios",
        }
        made.append({"cio_id": str(n), "id": f"p{n}", "email": f"{n}@example.com", "attributes": attributes})
    return made


SIGNUP = "attr_signup_source__c412f4f2"  # the documented mapping of "Signup Source"
KINDS = {
    "attr_created_at": ["null", "integer"],
    "attr_age": ["null", "integer"],
    "attr_ltv": ["null", "number"],
    "attr_vip": ["null", "boolean"],
    "attr_zip": ["null", "string"],
    SIGNUP: ["null", "string"],
}


def config(**extra: Any) -> dict[str, Any]:
    return ConfigBuilder().with_(**extra).build()


def customers_schema(output: Any) -> dict[str, Any]:
    [stream] = [s for s in output.catalog.catalog.streams if s.name == "customers"]
    return dict(stream.json_schema)


def typed(record: dict[str, Any]) -> dict[str, Any]:
    """The typed columns of a record as emitted (Airbyte's serializer leaves null values out)."""
    return {k: v for k, v in record.items() if k.startswith("attr_") and v is not None}


def expected_columns(person: dict[str, Any]) -> dict[str, Any]:
    """The hand-written coercion of typed_people's values."""
    a = person["attributes"]
    return {
        "attr_created_at": int(a["created_at"]),
        "attr_age": int(a["age"]),
        "attr_ltv": float(a["ltv"]),
        "attr_vip": a["vip"] == "true",
        "attr_zip": a["zip"],
        SIGNUP: a["Signup Source"],
    }


def test_discover_samples_one_search_page_and_ten_hydrations(requests_mock):
    FakePeople(typed_people(2_500)).mock(requests_mock)
    output = discover(SourceCustomerio(), config())
    schema = customers_schema(output)
    assert {k: v["type"] for k, v in schema["properties"].items() if k.startswith("attr_")} == KINDS
    assert schema["properties"]["attr_created_at"]["format"] == "unix timestamp"
    assert "cio_id" in schema["properties"] and "attributes" in schema["properties"]
    searches = calls_to(requests_mock, "/v1/customers", "POST")
    hydrations = calls_to(requests_mock, "/v1/customers/attributes", "POST")
    assert (len(searches), len(hydrations)) == (1, 10)
    assert query(searches[0])["limit"] == "1000"
    assert sum(len(h.json()["ids"]) for h in hydrations) == 1_000
    assert len(requests_mock.request_history) == 11


def test_a_refused_cio_id_filter_costs_one_request_more(requests_mock):
    FakePeople(typed_people(150), refuse_cio_id=True).mock(requests_mock)
    output = discover(SourceCustomerio(), config())
    assert set(KINDS) <= set(customers_schema(output)["properties"])
    assert len(requests_mock.request_history) == 1 + 1 + 2  # refused, the fallback search, 2 hydrations


def test_attribute_columns_off_samples_nothing_and_keeps_the_schema(requests_mock):
    FakePeople(typed_people(10)).mock(requests_mock)
    output = discover(SourceCustomerio(), config(attribute_columns=False))
    assert not [k for k in customers_schema(output)["properties"] if k.startswith("attr_")]
    assert requests_mock.request_history == []


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"status_code": 403, "json": {"meta": {"error": "no access to people"}}}, "may not search people"),
        (
            {"status_code": 400, "json": {"errors": [{"detail": "bad filter"}]}},
            "sampling people failed (POST /customers answered 400: bad filter)",
        ),
        ({"json": {"identifiers": [], "ids": [], "next": ""}}, "no people to sample"),
        (
            {"status_code": 500, "json": {}},
            "sampling people failed (POST /customers kept failing after retries",
        ),
    ],
    ids=["forbidden", "every filter refused", "empty workspace", "failing"],
)
def test_a_sample_that_fails_leaves_the_schema_fixed_with_a_warning(requests_mock, answer, reason):
    requests_mock.post("https://api.customer.io/v1/customers", **answer)
    output = discover(SourceCustomerio(), config())
    assert not output.errors
    assert not [k for k in customers_schema(output)["properties"] if k.startswith("attr_")]
    warnings = [line for line in log_lines(output, Level.WARN) if "typed attribute columns" in line]
    assert len(warnings) == 1 and reason in warnings[0], warnings
    assert "run discover again" in warnings[0]
    assert len(output.catalog.catalog.streams) == 27


def test_check_never_samples(requests_mock):
    mock_api(requests_mock)
    status = connection_status(check(config()))
    assert status.status == Status.SUCCEEDED
    assert calls_to(requests_mock, "/v1/customers/attributes") == []
    assert all(query(r)["limit"] == "1" for r in calls_to(requests_mock, "/v1/customers", "POST"))


@pytest.mark.parametrize("method", ["search", "exports"])
def test_a_read_fills_the_catalog_columns_the_same_on_both_paths(requests_mock, method):
    people = typed_people(30)
    people[2]["attributes"].update(age="unknown", vip="maybe", ltv="")  # person 3: values that do not fit
    people[4]["attributes"]["new_attribute"] = "7"  # appeared after discover: no column
    FakePeople(typed_people(30)).mock(requests_mock)
    schema = customers_schema(discover(SourceCustomerio(), config()))
    requests_mock.reset_mock()
    FakePeople(people).mock(requests_mock)
    output = read_stream(config(customers_method=method), "customers", schemas={"customers": schema})
    records = {r["cio_id"]: r for r in records_of(output, "customers")}
    assert set(records) == {p["cio_id"] for p in people}
    for p in people:
        record = records[p["cio_id"]]
        if p["cio_id"] == "3":
            want = expected_columns(typed_people(3)[2])
            for unfit in ("attr_age", "attr_vip", "attr_ltv"):  # null: "unknown", "maybe", and "" (no value)
                del want[unfit]
            assert typed(record) == want
            assert record["attributes"]["age"] == "unknown"  # the raw value, kept
        else:
            assert typed(record) == expected_columns(p), p["cio_id"]
    assert "new_attribute" in records["5"]["attributes"]
    # A read never samples: the export path searches nobody, the search path searches once per page.
    searches = calls_to(requests_mock, "/v1/customers", "POST")
    assert len(searches) == (0 if method == "exports" else 1)


def test_a_read_with_attribute_columns_off_fills_no_column(requests_mock):
    FakePeople(typed_people(5)).mock(requests_mock)
    schema = customers_schema(discover(SourceCustomerio(), config()))
    output = read_stream(
        config(attribute_columns=False, customers_method="search"), "customers", schemas={"customers": schema}
    )
    assert all(typed(r) == {} for r in records_of(output, "customers"))
    assert len(records_of(output, "customers")) == 5


def test_a_read_without_a_customers_schema_fills_no_column(requests_mock):
    FakePeople(typed_people(5)).mock(requests_mock)
    output = read_stream(config(customers_method="search"), "customers")
    assert all(typed(r) == {} for r in records_of(output, "customers"))
