"""`customers` under each people switch of the sandbox (`Quirks`), read by the console script with `auto`,
`exports` and `search`: every read returns exactly the sandbox's truth, each person once, with the same
attribute values hydration gives, or fails with its clear message where no right read of the export is
possible. And an export read killed part-way resumes and ends exactly at the truth, also when its file has
no cio_id column."""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

import pytest

from integration_tests.connector import ConnectorRun, catalog
from integration_tests.sandbox import Quirks, Sandbox
from integration_tests.scenarios import (
    assert_clean,
    assert_complete,
    assert_valid_records,
    config_for,
    new_sandbox,
    run,
    run_all,
    warnings,
)
from source_customerio.streams.customers import COMPLETE, EXPORT_ROWS_PER_SLICE

METHODS = ("auto", "exports", "search")
# name -> (quirks, methods whose export cannot be read right and so fail or fall back)
SWITCHES: dict[str, tuple[dict[str, Any], bool]] = {
    "defaults": ({}, False),
    "no_cio_id_column": ({"export_cio_id_column": False}, False),
    "shuffled_extra_columns": ({"export_column_order": "shuffled", "export_extra_columns": True}, False),
    "gzip": ({"export_compression": "gzip"}, False),
    "gzip_no_header_bom": ({"export_compression": "gzip_no_header", "export_bom": True}, False),
    "link_key": ({"export_link_key": "link"}, False),
    "drops_rows": ({"export_drops_rows": 2}, True),
    "attributes_only_when_asked": ({"export_attributes_only_when_asked": True}, True),
    "search_refuses_cio_id": ({"search_refuses_cio_id": True}, False),
    "hydration_omits_once": ({"hydration_omits_once": 2}, False),
    "hydration_deleted": ({"hydration_deleted": 2}, False),
}
MISMATCH = {
    "drops_rows": "the file has 10 data rows but the export's total is 12",
    "attributes_only_when_asked": "the file has no column for attributes hydration returns",
}


@pytest.fixture(scope="module")
def reads():
    """Every switch x method, one sandbox each (tiny: 12 people, pages of 3, so `auto` exports)."""
    # One "now" for all: a sandbox dates its people from when it was made, and the reads of different
    # sandboxes are compared person by person (made a second apart, created_at would differ).
    now = int(time.time())
    with ExitStack() as stack:
        sandboxes: dict[tuple[str, str], Sandbox] = {}
        for name, (quirks, _) in SWITCHES.items():
            for method in METHODS:
                sandboxes[name, method] = stack.enter_context(
                    new_sandbox(seed=41, quirks=Quirks(**quirks), export_ready_after_polls=1, now=now)
                )
        calls = {
            key: (
                lambda sb=sb, method=key[1]: run(
                    "read", config_for(sb, customers_method=method), catalog(["customers"])
                )
            )
            for key, sb in sandboxes.items()
        }
        results = run_all(calls, workers=6)
        yield {key: (sandboxes[key], results[key]) for key in sandboxes}


def attributes_by_person(result: ConnectorRun) -> dict[str, dict[str, Any]]:
    return {r["cio_id"]: r["attributes"] for r in result.records_of("customers")}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("switch", SWITCHES)
def test_every_switch_reads_exactly_the_truth_or_fails_clearly(reads, switch, method):
    sandbox, result = reads[switch, method]
    assert_clean(result)
    fails = SWITCHES[switch][1] and method == "exports"
    if fails:
        assert result.exit_code == 1 and result.records_of("customers") == []
        error = result.errors[0]
        assert error["failure_type"] == "config_error"
        assert MISMATCH[switch] in error["message"] and "customers_method" in error["message"]
        return
    assert result.exit_code == 0 and result.errors == [], result.stderr[-2000:]
    assert_complete(sandbox, result, "customers")
    assert_valid_records(result, "customers")
    assert result.stream_state("customers") == COMPLETE


@pytest.mark.parametrize("switch", SWITCHES)
def test_exported_values_are_hydrations_values(reads, switch):
    """Whatever the file looks like, an exported person's attributes hold what hydration says."""
    hydrated = attributes_by_person(reads[switch, "search"][1])
    for method in ("auto", "exports"):
        exported = attributes_by_person(reads[switch, method][1])
        for cio_id, attributes in exported.items():
            assert hydrated[cio_id].items() <= attributes.items(), (method, cio_id)


@pytest.mark.parametrize("switch", [s for s, (_, mismatch) in SWITCHES.items() if mismatch])
def test_auto_falls_back_to_search_with_the_numbers(reads, switch):
    sandbox, result = reads[switch, "auto"]
    [warning] = [w for w in warnings(result) if "does not check out" in w]
    assert MISMATCH[switch] in warning and "Reading people by search" in warning
    assert "POST /v1/customers/attributes" in sandbox.stats()["by_endpoint"]


def test_a_refused_cio_id_filter_is_one_warning_per_read(reads):
    for method in METHODS:
        sandbox, result = reads["search_refuses_cio_id", method]
        assert len([w for w in warnings(result) if "refused the filter" in w]) == 1, method
        assert sandbox.stats()["by_status"].get("400") == 1, method


def test_deleted_people_are_counted_in_one_warning_by_search(reads):
    _, result = reads["hydration_deleted", "search"]
    [warning] = [w for w in warnings(result) if "not returned by POST /v1/customers/attributes" in w]
    assert "2 of the 12 people the search found" in warning


def test_people_left_out_once_are_read_without_a_warning(reads):
    for method in METHODS:
        _, result = reads["hydration_omits_once", method]
        assert warnings(result) == [], method


def test_a_file_without_cio_id_is_joined_to_a_split_search(reads):
    sandbox, _ = reads["no_cio_id_column", "exports"]
    endpoints = sandbox.stats()["by_endpoint"]
    assert endpoints["POST /v1/exports/customers"] == 1 and endpoints["POST /v1/customers"] > 1


# -- killed part-way ------------------------------------------------------------------------------


@pytest.mark.parametrize("cio_id_column", [True, False], ids=["cio_id_column", "no_cio_id_column"])
def test_an_export_killed_mid_way_resumes_and_ends_exactly_at_the_truth(cio_id_column):
    people = EXPORT_ROWS_PER_SLICE + 1_000
    with new_sandbox(
        seed=43,
        people=people,
        page_size_cap=0,
        export_ready_after_polls=1,
        quirks=Quirks(export_cio_id_column=cio_id_column),
    ) as sandbox:
        config, configured = config_for(sandbox, customers_method="exports"), catalog(["customers"])
        first = run("read", config, configured, kill_after_records=EXPORT_ROWS_PER_SLICE + 500)
        second = run("read", config, configured, state=first.final_states())
        assert first.exit_code != 0 and second.exit_code == 0 and second.errors == []
        assert_clean(first)
        assert_clean(second)
        assert first.stream_state("customers") == {
            "export_id": first.stream_state("customers")["export_id"],
            "rows_done": EXPORT_ROWS_PER_SLICE,
        }
        assert second.stream_state("customers") == COMPLETE
        # The resumed run goes on after the rows the killed one saved: together they are the truth.
        resumed = second.keys_of("customers")
        assert len(resumed) == people - EXPORT_ROWS_PER_SLICE
        got = set(first.keys_of("customers")[:EXPORT_ROWS_PER_SLICE]) | set(resumed)
        assert got == set(sandbox.truth("customers")["keys"]) and len(got) == people
        assert sandbox.stats()["by_endpoint"]["POST /v1/exports/customers"] == 1
