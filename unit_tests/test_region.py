"""Which host the connector talks to: the configured region, the one that accepts the key, or base_url."""

from __future__ import annotations

import pytest
import requests
from airbyte_cdk.models import FailureType, Level, Status

from source_customerio import SourceCustomerio
from unit_tests.builders import (
    EU,
    KEY,
    US,
    ConfigBuilder,
    calls_to,
    campaign,
    check,
    connection_status,
    error_traces,
    log_lines,
    mock_api,
    page,
    read_stream,
    records_of,
)

CAMPAIGNS = page("campaigns", [campaign(1)])


def hosts(requests_mock) -> list[str]:
    return [r.hostname for r in requests_mock.request_history]


@pytest.mark.parametrize(("region", "root"), [("us", US), ("eu", EU)])
def test_a_fixed_region_uses_its_host_without_probing(region, root, requests_mock):
    requests_mock.get(f"{root}/campaigns", json=CAMPAIGNS)
    output = read_stream(ConfigBuilder().with_region(region).build(), "campaigns")
    assert [r["id"] for r in records_of(output)] == [1]
    assert [r.url for r in requests_mock.request_history] == [f"{root}/campaigns"]


def test_auto_tries_us_then_reads_from_eu_when_us_answers_401(requests_mock):
    requests_mock.get(f"{US}/workspaces", status_code=401, json={"meta": {"error": "Unauthorized"}})
    requests_mock.get(f"{EU}/workspaces", json={"workspaces": []})
    requests_mock.get(f"{EU}/campaigns", json=CAMPAIGNS)
    output = read_stream(ConfigBuilder().with_region("auto").build(), "campaigns")
    assert [r["id"] for r in records_of(output)] == [1]
    assert [r.url for r in requests_mock.request_history] == [
        f"{US}/workspaces",
        f"{EU}/workspaces",
        f"{EU}/campaigns",
    ]
    assert all(r.headers["Authorization"] == f"Bearer {KEY}" for r in requests_mock.request_history)
    assert any("EU region" in line for line in log_lines(output))


def test_auto_stays_on_us_when_us_accepts_the_key(requests_mock):
    requests_mock.get(f"{US}/workspaces", json={"workspaces": []})
    requests_mock.get(f"{US}/campaigns", json=CAMPAIGNS)
    output = read_stream(ConfigBuilder().with_region("auto").build(), "campaigns")
    assert records_of(output)
    assert hosts(requests_mock) == ["api.customer.io", "api.customer.io"]


def test_auto_with_both_regions_refusing_the_key_is_a_config_error(requests_mock):
    for root in (US, EU):
        requests_mock.get(f"{root}/workspaces", status_code=401)
    output = read_stream(ConfigBuilder().with_region("auto").build(), "campaigns", expect_error=True)
    errors = error_traces(output)
    assert errors and errors[0].failure_type == FailureType.config_error
    message = errors[0].message
    assert "App API key" in message
    assert "not a Track API key" in message
    assert "region" in message
    assert output.records == []
    assert [r.url for r in requests_mock.request_history] == [f"{US}/workspaces", f"{EU}/workspaces"]


def test_check_with_both_regions_refusing_the_key_fails_without_an_exception(requests_mock):
    for root in (US, EU):
        requests_mock.get(f"{root}/workspaces", status_code=401)
    status = connection_status(check(ConfigBuilder().with_region("auto").build()))
    assert status.status == Status.FAILED
    assert "App API key" in status.message


@pytest.mark.parametrize(("us_status", "label", "root"), [(401, "EU", EU), (200, "US", US)])
def test_check_reports_the_region_it_found(us_status, label, root, requests_mock):
    requests_mock.get(f"{US}/workspaces", status_code=us_status, json={"workspaces": []})
    mock_api(requests_mock, root)
    status = connection_status(check(ConfigBuilder().with_region("auto").build()))
    assert status.status == Status.SUCCEEDED
    assert f"Connected to Customer.io ({label})" in status.message


def test_base_url_replaces_the_region_and_is_not_probed(requests_mock):
    root = "http://127.0.0.1:1234/v1"
    requests_mock.get(f"{root}/campaigns", json=CAMPAIGNS)
    output = read_stream(ConfigBuilder().with_region("auto").with_base_url(f"{root}/").build(), "campaigns")
    assert records_of(output)
    assert [r.url for r in requests_mock.request_history] == [f"{root}/campaigns"]


def test_the_probe_retries_a_server_error_before_deciding(requests_mock, probe_sleeps):
    requests_mock.get(f"{US}/workspaces", [{"status_code": 503}, {"status_code": 429}, {"status_code": 401}])
    requests_mock.get(f"{EU}/workspaces", json={"workspaces": []})
    requests_mock.get(f"{EU}/campaigns", json=CAMPAIGNS)
    output = read_stream(ConfigBuilder().with_region("auto").build(), "campaigns")
    assert records_of(output)
    assert len(calls_to(requests_mock, "/v1/workspaces")) == 4
    assert probe_sleeps.calls == [1, 2]


def test_an_unreachable_host_during_the_probe_is_a_transient_error(requests_mock, probe_sleeps):
    requests_mock.get(f"{US}/workspaces", exc=requests.exceptions.ConnectionError)
    output = read_stream(ConfigBuilder().with_region("auto").build(), "campaigns", expect_error=True)
    errors = error_traces(output)
    assert errors and errors[0].failure_type == FailureType.transient_error
    assert "Could not reach Customer.io at https://api.customer.io/v1" in errors[0].message
    assert len(requests_mock.request_history) == 4
    assert probe_sleeps.calls == [1, 2, 4]


def test_the_region_is_found_once_per_config(requests_mock):
    requests_mock.get(f"{US}/workspaces", status_code=401)
    requests_mock.get(f"{EU}/workspaces", json={"workspaces": []})
    config = ConfigBuilder().with_region("auto").build()
    first, second = SourceCustomerio().streams(config), SourceCustomerio().streams(config)
    assert first[0].url_base == second[0].url_base == f"{EU}/"
    assert len(requests_mock.request_history) == 2
    SourceCustomerio().streams(ConfigBuilder().with_region("auto").with_key("another-key-1").build())
    assert len(requests_mock.request_history) == 4


def test_no_warning_is_logged_for_a_found_region(requests_mock):
    requests_mock.get(f"{US}/workspaces", status_code=401)
    requests_mock.get(f"{EU}/workspaces", json={"workspaces": []})
    requests_mock.get(f"{EU}/campaigns", json=CAMPAIGNS)
    output = read_stream(ConfigBuilder().with_region("auto").build(), "campaigns")
    assert log_lines(output, Level.WARN) == []
