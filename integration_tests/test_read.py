"""End to end: the `source-customerio` console script against the sandbox, every stream, over real
HTTP. A complete read must return exactly the sandbox's ground truth."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import jsonschema
import pytest
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader

from integration_tests.connector import FAN_OUT, INCREMENTAL, STREAMS, catalog, run_connector
from integration_tests.sandbox import SANDBOX_API_KEY, Sandbox
from integration_tests.scenarios import complete_read_state, keys_from, truth_cursors


def config_for(sandbox, **extra):
    return {"access_token": SANDBOX_API_KEY, "base_url": sandbox.base_url, "requests_per_second": 50, **extra}


@pytest.fixture(scope="module")
def full_read():
    with Sandbox(seed=7, size="tiny", requests_per_second=0) as sandbox:
        yield sandbox, run_connector("read", config_for(sandbox), catalog())


def test_read_exits_cleanly_without_errors(full_read):
    _, run = full_read
    assert run.exit_code == 0, run.stderr[-2000:]
    assert run.errors == []


@pytest.mark.parametrize("stream", STREAMS)
def test_every_stream_returns_exactly_the_ground_truth(full_read, stream):
    sandbox, run = full_read
    truth = sandbox.truth(stream)
    keys = run.keys_of(stream)
    assert truth["count"] > 0
    assert Counter(keys).most_common(1)[0][1] == 1, "duplicate primary keys"
    assert set(keys) == set(truth["keys"])


@pytest.mark.parametrize("stream", STREAMS)
def test_every_record_validates_against_its_schema(full_read, stream):
    _, run = full_read
    validator = jsonschema.Draft7Validator(ResourceSchemaLoader("source_customerio").get_schema(stream))
    records = run.records_of(stream)
    assert records
    for record in records:
        errors = [e.message for e in validator.iter_errors(record)]
        assert errors == [], (stream, record)


def test_email_only_people_are_read_with_a_null_id(full_read):
    _, run = full_read
    people = run.records_of("customers")
    # The CDK omits null top-level fields when it serialises a record: absent means null.
    assert any(p.get("id") is None for p in people)
    assert all(isinstance(p["cio_id"], str) and p["cio_id"] for p in people)


@pytest.mark.parametrize("method", ["search", "exports", "auto"])
def test_customers_are_complete_with_every_method(sandbox_factory, method):
    sandbox = sandbox_factory(seed=3, size="tiny", requests_per_second=0)
    run = run_connector("read", config_for(sandbox, customers_method=method), catalog(["customers"]))
    assert run.exit_code == 0, run.stderr[-2000:]
    assert sorted(run.keys_of("customers")) == sorted(sandbox.truth("customers")["keys"])
    endpoints = sandbox.stats()["by_endpoint"]
    used_export = "POST /v1/exports/customers" in endpoints
    assert used_export == (method != "search")
    assert sandbox.stats()["download_requests_with_authorization"] == 0


def test_incremental_second_read_returns_exactly_what_changed_since_the_state(sandbox_factory):
    """With no lookback, a read from the last state returns exactly the records whose cursor is at or
    after the saved one (the sandbox's truth), changes included, and moves the state to the new max."""
    sandbox = sandbox_factory(seed=5, size="tiny", requests_per_second=0)
    config = config_for(sandbox, lookback_window_minutes=0, messages_lookback_days=0)
    # The streams read per parent keep a state per parent: integration_tests/test_children.py.
    streams = [s for s in INCREMENTAL if s not in FAN_OUT]
    lists = [s for s in streams if s != "messages"]
    first = run_connector("read", config, catalog(streams, incremental=True))
    assert first.exit_code == 0, first.stderr[-2000:]
    for stream in lists:
        complete_read_state(sandbox, stream, first.stream_state(stream))
    changed = {s: sandbox.mutate(s, "update", 1)["keys"] for s in lists}
    inserted = {s: sandbox.mutate(s, "insert", 1)["keys"] for s in ("campaigns", "messages")}

    second = run_connector("read", config, catalog(streams, incremental=True), state=first.final_states())
    assert second.exit_code == 0, second.stderr[-2000:]
    for stream in streams:
        cursors = truth_cursors(sandbox, stream)
        saved = first.stream_state(stream)[INCREMENTAL[stream]]
        expected = keys_from(cursors, saved)
        assert set(changed.get(stream, []) + inserted.get(stream, [])) <= expected
        if len(cursors) > 2:  # one record at the saved cursor, one changed: the others are older
            assert expected != set(cursors), f"{stream}: every record is at or after the state"
        got = second.keys_of(stream)
        assert len(got) == len(set(got)), stream
        assert set(got) == expected, (stream, sorted(set(got) ^ expected)[:5])
        if stream in lists:
            complete_read_state(sandbox, stream, second.stream_state(stream))


def test_start_date_filters_incremental_tables(sandbox_factory):
    sandbox = sandbox_factory(seed=5, size="tiny", requests_per_second=0)
    cursors = truth_cursors(sandbox, "campaigns")
    values = sorted(v for v in cursors.values() if isinstance(v, int))
    middle = values[len(values) // 2]
    expected = keys_from(cursors, middle)
    assert 0 < len(expected) < len(cursors), "the start date splits the table"
    start = datetime.fromtimestamp(middle, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    run = run_connector(
        "read", config_for(sandbox, start_date=start), catalog(["campaigns"], incremental=True)
    )
    assert run.exit_code == 0, run.stderr[-2000:]
    assert sorted(run.keys_of("campaigns")) == sorted(expected)
