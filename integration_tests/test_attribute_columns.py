"""Typed attribute columns end to end, the console script against the sandbox: discover types every attribute
the sandbox's people have (hostile names included), a read through either people path (search and hydrate,
or the export file) fills the columns with the same values, equal to the sandbox's raw values coerced by
hand, also when hydration sends JSON numbers and booleans; an attribute that appears after discover stays in
`attributes` until the next discover; discover asks for at most 12 pages and a sample that cannot be taken
leaves the schema fixed; `check` and `read` never sample."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from integration_tests.connector import ConnectorRun, catalog
from integration_tests.sandbox import Quirks, Sandbox
from integration_tests.scenarios import (
    assert_clean,
    assert_complete,
    coerced_by_hand,
    config_for,
    new_sandbox,
    run,
    run_all,
    typed_columns,
)
from source_customerio.streams.attribute_columns import column_name

# Every attribute of the sandbox's people (integration_tests/sandbox/people.py) and the column it must get,
# by hand: (kind, marked as a unix time).
STRINGS = (
    "first_name", "last_name", "plan", "country", "company", "cio_subscription_preferences", "Signup Source",
    "signup-source", "Plan", "prénom", "attributes", "ID",
)  # fmt: skip
KINDS: dict[str, tuple[str, bool]] = {
    "created_at": ("integer", True),
    "_last_emailed": ("integer", True),
    "last_login_at": ("integer", True),
    "score": ("integer", False),
    "age": ("integer", False),
    "plan.tier": ("integer", False),
    "9lives": ("integer", False),
    "ltv": ("number", False),  # decimals and whole numbers
    "vip": ("boolean", False),
    "zip": ("string", False),  # leading zeros
    "lucky_number": ("string", False),  # numbers and words
    **dict.fromkeys(STRINGS, ("string", False)),
}
SAMPLE_ALL = {"page_size_cap": 0}  # one search page holds the tiny sandbox's 12 people: all are sampled


def sandbox(**quirks: Any) -> Sandbox:
    return new_sandbox(seed=23, quirks=Quirks(**quirks), export_ready_after_polls=1, **SAMPLE_ALL)


def discover(sb: Sandbox, **settings: Any) -> ConnectorRun:
    found = run("discover", config_for(sb, **settings))
    assert_clean(found)
    assert found.exit_code == 0, found.stdout[-2000:]
    return found


def read(sb: Sandbox, schema: dict[str, Any], method: str, **settings: Any) -> ConnectorRun:
    done = run(
        "read",
        config_for(sb, customers_method=method, **settings),
        catalog(["customers"], schemas={"customers": schema}),
    )
    assert_clean(done)
    assert done.exit_code == 0 and not done.errors, done.stdout[-2000:]
    return done


def schema_columns(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: prop for name, prop in schema["properties"].items() if name.startswith("attr_")}


def raw_attributes(sb: Sandbox) -> dict[str, dict[str, str]]:
    """Each existing person's custom attributes as the sandbox holds them (the truth), by cio_id."""
    people = sb.world.people
    return {people.cio_id(i): people.custom_attributes(i)[0] for i in people.existing()}


def expected(raw: dict[str, str], kinds: dict[str, tuple[str, bool]]) -> dict[str, Any]:
    out = {}
    for name, text in raw.items():
        if name in kinds and text:
            value = coerced_by_hand(kinds[name][0], text)
            if value is not None:
                out[column_name(name)] = value
    return out


def test_discover_types_every_attribute_of_the_sandbox_people():
    with sandbox() as sb:
        found = discover(sb)
        names = {name for attributes in raw_attributes(sb).values() for name in attributes}
    assert names == set(KINDS), "the sandbox's attributes changed: update KINDS"
    columns = schema_columns(found.schemas()["customers"])
    assert {name: prop["type"] for name, prop in columns.items()} == {
        column_name(raw): ["null", kind] for raw, (kind, _) in KINDS.items()
    }
    unix = {name for name, prop in columns.items() if prop.get("format") == "unix timestamp"}
    assert unix == {column_name(raw) for raw, (_, is_time) in KINDS.items() if is_time}
    # Names that sanitise alike get columns of their own; the identifiers get none.
    assert len({column_name("Plan"), column_name("plan"), "attr_plan"}) == 2 and "attr_id" not in columns


@pytest.fixture(scope="module", params=[False, True], ids=["strings", "native_values"])
def both_paths(request):
    """A discover, then a read by search and a read by export with its schema: under each hydration form."""
    with sandbox(hydration_native_values=request.param) as sb:
        schema = discover(sb).schemas()["customers"]
        reads = run_all({method: lambda m=method: read(sb, schema, m) for method in ("search", "exports")})
        yield sb, schema, reads, raw_attributes(sb)


def test_both_people_paths_give_the_truth_in_typed_columns(both_paths):
    sb, schema, reads, truth = both_paths
    validator = jsonschema.Draft7Validator(schema)
    by_path = {}
    for method, result in reads.items():
        assert_complete(sb, result, "customers")
        records = {r["cio_id"]: r for r in result.records_of("customers")}
        for cio_id, record in records.items():
            assert list(validator.iter_errors(record)) == [], (method, cio_id)
            assert typed_columns(record) == expected(truth[cio_id], KINDS), (method, cio_id)
        by_path[method] = {cio_id: typed_columns(record) for cio_id, record in records.items()}
    assert by_path["search"] == by_path["exports"]
    assert sum(len(columns) for columns in by_path["search"].values()) > 100


def test_attributes_keep_every_raw_value(both_paths):
    _, _, reads, truth = both_paths
    for result in reads.values():
        for record in result.records_of("customers"):
            raw = {k: v for k, v in record["attributes"].items() if k not in ("cio_id", "id", "email")}
            assert {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in raw.items()} == truth[
                record["cio_id"]
            ]


def test_an_attribute_that_appears_after_discover_stays_in_attributes_until_the_next_discover():
    with sandbox() as sb:
        schema = discover(sb).schemas()["customers"]
        inserted = sb.mutate("customers", "insert", 2)["keys"]
        reads = run_all({method: lambda m=method: read(sb, schema, m) for method in ("search", "exports")})
        again = schema_columns(discover(sb).schemas()["customers"])
    for method, result in reads.items():
        records = {r["cio_id"]: r for r in result.records_of("customers")}
        for cio_id in inserted:
            record = records[cio_id]
            assert record["attributes"]["onboarding_step"] == "2", method
            assert record["attributes"]["age"] == "unknown", method  # not a number: null in attr_age
            assert "attr_onboarding_step" not in record and record.get("attr_age") is None, method
            assert typed_columns(record) == expected(record["attributes"], KINDS), method
    assert again["attr_onboarding_step"]["type"] == ["null", "integer"]
    assert again["attr_age"]["type"] == ["null", "string"]  # "unknown" is in the sample now


def test_discover_asks_for_one_search_page_and_ten_hydrations_at_most():
    """The small sandbox has 1,000 people: a full search page."""
    sandboxes = {
        "default": new_sandbox(seed=5, size="small"),
        "refused_cio_id": new_sandbox(seed=5, size="small", quirks=Quirks(search_refuses_cio_id=True)),
    }
    with sandboxes["default"] as plain, sandboxes["refused_cio_id"] as refusing:
        found = run_all({sb: lambda sb=sb: discover(sb) for sb in (plain, refusing)})
        asked = {name: sb.stats()["by_endpoint"] for name, sb in sandboxes.items()}
    assert asked["default"] == {"POST /v1/customers": 1, "POST /v1/customers/attributes": 10}
    assert asked["refused_cio_id"] == {"POST /v1/customers": 2, "POST /v1/customers/attributes": 10}
    assert all(len(schema_columns(run.schemas()["customers"])) == len(KINDS) for run in found.values())


def test_check_never_samples_people():
    with sandbox() as sb:
        checked = run("check", config_for(sb))
        asked = sb.stats()["by_endpoint"]
    assert [m["connectionStatus"]["status"] for m in checked.of_type("CONNECTION_STATUS")] == ["SUCCEEDED"]
    assert "POST /v1/customers/attributes" not in asked


def test_a_sample_that_cannot_be_taken_leaves_the_schema_fixed_and_discover_succeeds():
    with (
        new_sandbox(forbidden_paths=["/v1/customers"]) as forbidden,
        new_sandbox(people=0, **SAMPLE_ALL) as empty,
        sandbox() as off,
    ):
        found = run_all(
            {
                "forbidden": lambda: discover(forbidden),
                "empty": lambda: discover(empty),
                "off": lambda: discover(off, attribute_columns=False),
            }
        )
        off_asked = off.stats()["by_endpoint"]
    for name, result in found.items():
        schemas = result.schemas()
        assert len(schemas) == 27 and schema_columns(schemas["customers"]) == {}, name
    why = {
        name: [w for w in result.logs("WARN") if "typed attribute columns" in w]
        for name, result in found.items()
    }
    assert len(why["forbidden"]) == 1 and "may not search people" in why["forbidden"][0]
    assert len(why["empty"]) == 1 and "no people to sample" in why["empty"][0]
    assert why["off"] == [] and off_asked == {}


def test_attribute_columns_off_fills_no_column_whatever_the_catalog_says():
    with sandbox() as sb:
        schema = discover(sb).schemas()["customers"]
        result = read(sb, schema, "search", attribute_columns=False)
    records = result.records_of("customers")
    assert records and all(typed_columns(r) == {} for r in records)
