"""The pydantic config: what it accepts, what it rejects, and how a rejection reaches the user."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from airbyte_cdk.models import FailureType, Status, Type
from airbyte_cdk.test.entrypoint_wrapper import discover
from airbyte_cdk.test.models.outcome import ExpectedOutcome
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_customerio import SourceCustomerio
from source_customerio.config import CustomerioConfig, Region
from unit_tests.builders import (
    KEY,
    US,
    ConfigBuilder,
    assert_no_secret,
    campaign,
    error_traces,
    page,
    parse_lines,
    read_stream,
    records_of,
    run_cli,
)

JAN_31_2024 = 1_706_659_200


def config_error_message(config: dict) -> str:
    with pytest.raises(AirbyteTracedException) as raised:
        CustomerioConfig.from_mapping(config)
    assert raised.value.failure_type == FailureType.config_error
    return raised.value.message or ""


@pytest.mark.parametrize("value", ["2024-01-31", "2024-01-31T00:00:00Z", "01/31/2024", " 2024-01-31 "])
def test_start_date_forms_are_accepted(value):
    settings = CustomerioConfig.from_mapping(ConfigBuilder().with_start_date(value).build())
    assert settings.start_timestamp == JAN_31_2024


def test_start_date_with_offset_is_read_in_its_zone():
    settings = CustomerioConfig.from_mapping(
        ConfigBuilder().with_start_date("2024-01-31T02:00:00+02:00").build()
    )
    assert settings.start_timestamp == JAN_31_2024


@pytest.mark.parametrize("value", [None, "", "   "])
def test_empty_start_date_means_no_start(value):
    settings = CustomerioConfig.from_mapping(ConfigBuilder().with_start_date(value).build())
    assert settings.start_date is None
    assert settings.start_timestamp is None


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", "31/01/2024", "2024-02-30"])
def test_start_date_rejected_quotes_the_value_and_names_the_field(value):
    message = config_error_message(ConfigBuilder().with_start_date(value).build())
    assert "start_date" in message
    assert f"'{value}'" in message
    assert "2024-01-31" in message  # an example of what to write instead
    assert KEY not in message


@pytest.mark.parametrize("value", ["auto", "us", "eu"])
def test_region_values(value):
    assert CustomerioConfig.from_mapping(ConfigBuilder().with_region(value).build()).region == Region(value)


def test_region_defaults_to_auto():
    assert CustomerioConfig.from_mapping({"access_token": KEY}).region == Region.AUTO


@pytest.mark.parametrize("value", ["mars", "US-East", ""])
def test_unknown_region_names_the_field(value):
    message = config_error_message(ConfigBuilder().with_region(value).build())
    assert message.startswith("Invalid configuration: region ")
    assert f"'{value}'" in message
    assert KEY not in message


@pytest.mark.parametrize(
    "url", ["ftp://api.customer.io/v1", "http://example.com", "http://api.customer.io/v1", "not a url"]
)
def test_unsafe_or_invalid_base_url_is_rejected(url):
    message = config_error_message(ConfigBuilder().with_base_url(url).build())
    assert "base_url" in message
    assert url in message
    assert KEY not in message


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("http://127.0.0.1:1234/v1", "http://127.0.0.1:1234/v1"),
        ("http://localhost:8080/v1/", "http://localhost:8080/v1"),
        ("http://[::1]:9000/v1", "http://[::1]:9000/v1"),
        ("https://proxy.example.com/customerio/v1/", "https://proxy.example.com/customerio/v1"),
    ],
)
def test_loopback_http_and_any_https_base_url_are_accepted(url, kept):
    assert CustomerioConfig.from_mapping(ConfigBuilder().with_base_url(url).build()).base_url == kept


@pytest.mark.parametrize("key", ["", "   "])
def test_empty_key_is_rejected_naming_access_token(key):
    message = config_error_message(ConfigBuilder().with_key(key).build())
    assert "access_token" in message
    assert "App API key" in message


def test_missing_key_is_rejected_naming_access_token():
    message = config_error_message(ConfigBuilder().with_key(None).build())
    assert "access_token is required" in message


def test_key_is_stripped():
    assert CustomerioConfig.from_mapping(ConfigBuilder().with_key(f"  {KEY}\n").build()).access_token == KEY


def test_app_api_key_alone_is_accepted_as_the_key():
    settings = CustomerioConfig.from_mapping({"app_api_key": KEY, "region": "us"})
    assert settings.access_token == KEY


def test_access_token_wins_over_app_api_key():
    settings = CustomerioConfig.from_mapping({"access_token": KEY, "app_api_key": "other-key-000"})
    assert settings.access_token == KEY


def test_a_config_with_only_app_api_key_reads(requests_mock):
    requests_mock.get(f"{US}/campaigns", json=page("campaigns", [campaign(1)]))
    output = read_stream({"app_api_key": KEY, "region": "us"}, "campaigns")
    assert [r["id"] for r in records_of(output)] == [1]
    assert requests_mock.last_request.headers["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("requests_per_second", 0),
        ("requests_per_second", 101),
        ("lookback_window_minutes", -1),
        ("messages_lookback_days", 181),
        ("request_timeout_seconds", 0),
        ("customers_method", "csv"),
    ],
)
def test_out_of_range_settings_name_the_field(setting, value):
    message = config_error_message(ConfigBuilder().with_(**{setting: value}).build())
    assert message.startswith(f"Invalid configuration: {setting} ")
    assert KEY not in message


def test_several_problems_are_reported_together():
    message = config_error_message(
        ConfigBuilder().with_start_date("yesterday").with_region("mars").with_base_url("ftp://x").build()
    )
    for field in ("start_date", "region", "base_url"):
        assert field in message


@pytest.mark.parametrize("name", ["access_token", "app_api_key"])
def test_a_key_of_the_wrong_type_is_never_echoed(name, requests_mock):
    secret = 987654321012345  # a numeric key: rejected, but must not be quoted back
    output = read_stream({name: secret, "region": "us"}, "campaigns", expect_error=True)
    errors = error_traces(output)
    assert errors and errors[0].failure_type == FailureType.config_error
    assert name in errors[0].message
    assert_no_secret(output, str(secret))


def test_unknown_settings_are_kept_not_rejected():
    settings = CustomerioConfig.from_mapping(ConfigBuilder().with_(some_future_setting=1).build())
    assert settings.model_extra == {"some_future_setting": 1}


BAD_CONFIGS = {
    "start_date": ConfigBuilder().with_start_date("yesterday").build(),
    "region": ConfigBuilder().with_region("mars").build(),
    "base_url": ConfigBuilder().with_base_url("http://example.com").build(),
    "access_token": ConfigBuilder().with_key("").build(),
    "requests_per_second": ConfigBuilder().with_(requests_per_second=0).build(),
}


@pytest.mark.parametrize("field", BAD_CONFIGS)
def test_read_with_a_bad_config_is_a_config_error_trace(field, requests_mock):
    output = read_stream(BAD_CONFIGS[field], "campaigns", expect_error=True)
    errors = error_traces(output)
    assert errors, "no error TRACE"
    assert errors[0].failure_type == FailureType.config_error
    assert field in errors[0].message
    assert output.records == []
    assert requests_mock.request_history == []
    assert_no_secret(output)


@pytest.mark.parametrize("field", BAD_CONFIGS)
def test_discover_with_a_bad_config_is_a_config_error_trace(field, requests_mock):
    output = discover(
        SourceCustomerio(), BAD_CONFIGS[field], expected_outcome=ExpectedOutcome.EXPECT_EXCEPTION
    )
    errors = error_traces(output)
    assert errors and errors[0].failure_type == FailureType.config_error
    assert field in errors[0].message
    assert requests_mock.request_history == []
    assert_no_secret(output)


CONSOLE_FIELDS = ("start_date", "region", "access_token")  # model, spec enum, secret field


@pytest.fixture(scope="module")
def console_checks():
    """`check` of bad configs on the console, run side by side (each start costs seconds)."""
    with ThreadPoolExecutor(2) as pool:
        runs = {
            field: pool.submit(run_cli, ["check", "--config", "{config}"], config)
            for field, config in BAD_CONFIGS.items()
            if field in CONSOLE_FIELDS
        }
        return {field: run.result() for field, run in runs.items()}


@pytest.mark.parametrize("field", CONSOLE_FIELDS)
def test_check_on_the_console_reports_a_bad_config_as_failed(field, console_checks):
    code, lines = console_checks[field]
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)  # only protocol lines
    statuses = [m.connectionStatus for m in parse_lines(lines) if m.type == Type.CONNECTION_STATUS]
    assert len(statuses) == 1, lines
    assert statuses[0].status == Status.FAILED
    assert field in (statuses[0].message or "")
    assert code == 0
    assert_no_secret(lines)
