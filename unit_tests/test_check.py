"""`check`: settings, region, and which streams the key may read, as one connection status."""

from __future__ import annotations

import pytest
from airbyte_cdk.models import Level, Status

from unit_tests.builders import (
    ALL_STREAMS,
    ENDPOINTS,
    US,
    ConfigBuilder,
    check,
    connection_status,
    error_traces,
    log_lines,
    mock_api,
    query,
)

FORBIDDEN = {"status_code": 403, "json": {"errors": [{"detail": "forbidden for this key"}]}}


def test_check_succeeds_and_names_the_region(requests_mock):
    mock_api(requests_mock)
    output = check(ConfigBuilder().build())
    status = connection_status(output)
    assert status.status == Status.SUCCEEDED
    assert (
        status.message == f"Connected to Customer.io (US). The key may read all {len(ALL_STREAMS)} streams."
    )
    assert error_traces(output) == []


@pytest.mark.parametrize(("region", "label"), [("eu", "EU"), ("us", "US")])
def test_check_names_a_configured_region(region, label, requests_mock):
    mock_api(requests_mock, "https://api-eu.customer.io/v1" if region == "eu" else US)
    status = connection_status(check(ConfigBuilder().with_region(region).build()))
    assert status.message.startswith(f"Connected to Customer.io ({label}).")


def test_check_with_a_base_url_says_so(requests_mock):
    root = "http://127.0.0.1:8089/v1"
    mock_api(requests_mock, root)
    status = connection_status(check(ConfigBuilder().with_base_url(root).build()))
    assert status.status == Status.SUCCEEDED
    assert "custom base_url" in status.message


def test_check_probes_every_stream_cheaply(requests_mock):
    mock_api(requests_mock)
    check(ConfigBuilder().build())
    asked = {(r.method, r.path) for r in requests_mock.request_history}
    lists = {("GET", f"/v1/esp/suppression/{kind}") for kind in ("blocks", "spam_reports", "invalid_emails")}
    # Every suppression list is probed: a key may be refused one of them only.
    assert asked == {(method, f"/v1/{path}") for method, path, _, _ in ENDPOINTS.values()} | lists
    for request in requests_mock.request_history:
        if (
            request.path in ("/v1/newsletters", "/v1/messages", "/v1/customers")
            or "suppression" in request.path
        ):
            assert query(request)["limit"] == "1"
    assert len(requests_mock.request_history) == len(ALL_STREAMS) + 3


@pytest.mark.parametrize("forbidden", [["segments"], ["customers", "eps_suppression"], ["messages"]])
def test_check_lists_the_streams_the_key_may_not_read(forbidden, requests_mock):
    mock_api(requests_mock, **dict.fromkeys(forbidden, FORBIDDEN))
    output = check(ConfigBuilder().build())
    status = connection_status(output)
    assert status.status == Status.SUCCEEDED
    assert f"may not read {len(forbidden)} stream(s)" in status.message
    assert status.message.endswith("Give the App API key access to them to read them too.")
    for name in forbidden:
        assert f" {name} (" in status.message  # the stream, then the API's reason
    allowed = set(ALL_STREAMS) - set(forbidden)
    assert not any(f" {name} (" in status.message for name in allowed)
    warnings = log_lines(output, Level.WARN)
    assert any(all(f" {name} (" in line for name in forbidden) for line in warnings)


def test_a_missing_endpoint_is_not_reported_as_forbidden(requests_mock):
    mock_api(requests_mock, topics={"status_code": 404})
    status = connection_status(check(ConfigBuilder().build()))
    assert status.status == Status.SUCCEEDED
    assert f"may read all {len(ALL_STREAMS)} streams" in status.message


def test_a_401_is_a_failed_status_with_the_app_api_key_message(requests_mock):
    mock_api(requests_mock, broadcasts={"status_code": 401})
    output = check(ConfigBuilder().build())
    status = connection_status(output)
    assert status.status == Status.FAILED
    assert "App API key" in status.message and "Track API key" in status.message
    assert "region" in status.message


def test_an_api_that_keeps_failing_is_a_failed_status_naming_the_stream(requests_mock):
    mock_api(requests_mock, campaigns={"status_code": 503})
    status = connection_status(check(ConfigBuilder().build()))
    assert status.status == Status.FAILED
    assert "'campaigns'" in status.message


def test_check_never_prints_the_key(requests_mock):
    mock_api(requests_mock, segments=FORBIDDEN, broadcasts={"status_code": 401})
    output = check(ConfigBuilder().build())  # `check` asserts the key is absent from every message
    assert connection_status(output).status == Status.FAILED
