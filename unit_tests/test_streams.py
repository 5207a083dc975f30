"""Every stream: what it asks, what it emits, and what identifies a record."""

from __future__ import annotations

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.entrypoint_wrapper import discover
from jsonschema import Draft7Validator

from integration_tests.connector import INCREMENTAL
from source_customerio import SourceCustomerio
from unit_tests.builders import (
    ALL_STREAMS,
    ENDPOINTS,
    SAMPLES,
    US,
    ConfigBuilder,
    broadcast,
    calls_to,
    error_traces,
    mock_api,
    object_type,
    page,
    query,
    read_stream,
    records_of,
    workspace,
)

CURSORS = INCREMENTAL
CURSOR_PAGED = {"newsletters", "activities", "sender_identities"}
LIST_STREAMS = [s for s in ALL_STREAMS if s in SAMPLES and s != "messages"]


@pytest.fixture(scope="module")
def catalog():
    # No typed attribute columns: their sample would ask the API for people (test_customers_attributes.py).
    output = discover(SourceCustomerio(), ConfigBuilder().with_(attribute_columns=False).build())
    return {s.name: s for s in output.catalog.catalog.streams}


def test_discover_lists_every_stream_in_order(catalog):
    assert list(catalog) == list(ALL_STREAMS)


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_primary_key(stream, catalog):
    assert catalog[stream].source_defined_primary_key == [[k] for k in ENDPOINTS[stream][3]]


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_sync_modes_and_cursor(stream, catalog):
    entry = catalog[stream]
    if stream in CURSORS:
        assert set(entry.supported_sync_modes) == {SyncMode.full_refresh, SyncMode.incremental}
        assert entry.default_cursor_field == [CURSORS[stream]]
        assert entry.source_defined_cursor is True
    else:
        assert entry.supported_sync_modes == [SyncMode.full_refresh]


@pytest.mark.parametrize("stream", LIST_STREAMS)
def test_list_stream_request_and_records(stream, requests_mock):
    method, path, records_key, _ = ENDPOINTS[stream]
    requests_mock.register_uri(method, f"{US}/{path}", json={records_key: SAMPLES[stream]})
    output = read_stream(ConfigBuilder().build(), stream)
    assert error_traces(output) == []
    # Sender identities are listed twice: hidden senders come only with hidden=true (test_senders.py).
    request, *hidden_listing = requests_mock.request_history
    assert (request.method, request.path) == (method, f"/v1/{path}")
    assert query(request) == ({"limit": "100"} if stream in CURSOR_PAGED else {})
    assert request.body is None
    assert [query(r) for r in hidden_listing] == (
        [{"limit": "100", "hidden": "true"}] if stream == "sender_identities" else []
    )
    records = records_of(output, stream)
    assert len(records) == len(SAMPLES[stream])
    if stream == "sender_identities":
        assert records == [{**r, "hidden": False} for r in SAMPLES[stream]]
    elif stream not in ("ip_addresses", "workspaces", "types"):
        assert records == SAMPLES[stream]


def test_ip_addresses_become_one_record_per_address(requests_mock):
    requests_mock.get(
        f"{US}/info/ip_addresses", json={"ip_addresses": ["10.0.0.1", "10.0.0.2", "2001:db8::1"]}
    )
    output = read_stream(ConfigBuilder().build(), "ip_addresses")
    assert records_of(output) == [{"id": "10.0.0.1"}, {"id": "10.0.0.2"}, {"id": "2001:db8::1"}]


@pytest.mark.parametrize(
    ("stream", "path", "key", "factory"),
    [("workspaces", "workspaces", "workspaces", workspace), ("types", "object_types", "types", object_type)],
)
def test_numeric_ids_become_strings(stream, path, key, factory, requests_mock):
    requests_mock.get(f"{US}/{path}", json={key: [factory(13), factory("14")]})
    output = read_stream(ConfigBuilder().build(), stream)
    assert [r["id"] for r in records_of(output)] == ["13", "14"]


def test_broadcast_nil_tags_become_null(requests_mock):
    requests_mock.get(
        f"{US}/broadcasts", json=page("broadcasts", [broadcast(1, tags="nil"), broadcast(2, tags=["vip"])])
    )
    records = records_of(read_stream(ConfigBuilder().build(), "broadcasts"))
    # A null is emitted as an absent key by the CDK's serialiser.
    assert [r.get("tags") for r in records] == [None, ["vip"]]


def test_messages_request_and_records(requests_mock, frozen_now):
    start = 1_733_011_200  # 2024-12-01, before the sample delivery
    requests_mock.get(f"{US}/messages", json={"messages": SAMPLES["messages"]})
    output = read_stream(ConfigBuilder().with_(start_date="2024-12-01").build(), "messages")
    assert records_of(output) == SAMPLES["messages"]
    [request] = requests_mock.request_history
    # One second more on each side: whether the API includes its bounds is not documented.
    assert query(request) == {"limit": "1000", "start_ts": str(start - 1), "end_ts": str(frozen_now + 1)}


def test_customers_request_and_records(requests_mock):
    mock_api(requests_mock)
    output = read_stream(ConfigBuilder().build(), "customers")
    [search] = calls_to(requests_mock, "/v1/customers", "POST")
    [hydrate] = calls_to(requests_mock, "/v1/customers/attributes", "POST")
    assert query(search) == {"limit": "1000"}
    assert "filter" in search.json()
    assert query(hydrate) == {"id_type": "cio_id"}
    assert hydrate.json() == {"ids": ["101"]}
    [record] = records_of(output)
    assert (record["cio_id"], record["id"], record["email"]) == ("101", "id-101", "101@example.com")


def test_eps_suppression_request_and_records(requests_mock):
    mock_api(requests_mock)
    output = read_stream(ConfigBuilder().build(), "eps_suppression")
    paths = sorted(r.path for r in requests_mock.request_history if "offset=0" in r.url)
    assert paths == sorted(
        f"/v1/esp/suppression/{k}" for k in ("bounces", "blocks", "spam_reports", "invalid_emails")
    )
    assert {(r["suppression_type"], r["email"]) for r in records_of(output)} == {
        (k, f"{k}@example.com") for k in ("bounces", "blocks", "spam_reports", "invalid_emails")
    }


def test_every_stream_in_one_sync(requests_mock, frozen_now):
    mock_api(requests_mock)
    output = read_stream(ConfigBuilder().with_start_date("2024-12-01").build(), ALL_STREAMS)
    assert error_traces(output) == []
    counts = {s: len(records_of(output, s)) for s in ALL_STREAMS}
    assert all(counts.values()), counts
    assert counts["eps_suppression"] == 4


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_records_fit_the_stream_schema(stream, catalog, requests_mock, frozen_now):
    mock_api(requests_mock)
    output = read_stream(ConfigBuilder().with_start_date("2024-12-01").build(), stream)
    validator = Draft7Validator(catalog[stream].json_schema)
    records = records_of(output, stream)
    assert records
    for record in records:
        assert list(validator.iter_errors(record)) == []
