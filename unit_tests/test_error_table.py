"""Each row of the error table, as a sync sees it: fail, skip, or retry and go on."""

from __future__ import annotations

import logging

import pytest
import requests
from airbyte_cdk.models import AirbyteStreamStatus, FailureType, Level, SyncMode
from airbyte_cdk.sources.streams.http.error_handlers import ResponseAction

from source_customerio.http.error_table import (
    BACKOFF_SCALE_ENV,
    MAX_RETRIES,
    MIN_BACKOFF_SECONDS,
    CustomerioErrorHandler,
    RetryAfterBackoff,
)
from unit_tests.builders import (
    US,
    ConfigBuilder,
    campaign,
    error_traces,
    http_answer,
    log_lines,
    newsletter,
    page,
    read_stream,
    records_of,
    segment,
    states_of,
)

CAMPAIGNS = page("campaigns", [campaign(1), campaign(2)])
OK = {"json": CAMPAIGNS}


def read_campaigns(**kwargs):
    return read_stream(ConfigBuilder().build(), "campaigns", **kwargs)


def assert_campaigns_read(output) -> None:
    assert [r["id"] for r in records_of(output, "campaigns")] == [1, 2]
    assert error_traces(output) == []


def test_401_fails_the_sync_as_a_config_error_without_retrying(requests_mock):
    requests_mock.get(f"{US}/campaigns", status_code=401, json={"meta": {"error": "Unauthorized"}})
    output = read_campaigns(expect_error=True)
    errors = error_traces(output)
    assert errors and errors[0].failure_type == FailureType.config_error
    assert "App API key" in errors[0].message and "region" in errors[0].message
    assert len(requests_mock.request_history) == 1


def test_403_skips_that_stream_with_a_warning_and_the_sync_goes_on(requests_mock):
    requests_mock.get(
        f"{US}/segments", status_code=403, json={"errors": [{"detail": "key lacks the segments scope"}]}
    )
    requests_mock.get(f"{US}/campaigns", json=CAMPAIGNS)
    output = read_stream(ConfigBuilder().build(), ["segments", "campaigns"])
    assert_campaigns_read(output)
    assert records_of(output, "segments") == []
    warnings = [line for line in log_lines(output, Level.WARN) if "'segments'" in line]
    assert len(warnings) == 1
    assert "GET /segments" in warnings[0] and "key lacks the segments scope" in warnings[0]
    assert output.get_stream_statuses("segments")[-1] == AirbyteStreamStatus.COMPLETE
    assert len([r for r in requests_mock.request_history if r.path == "/v1/segments"]) == 1


FORBIDDEN = {"status_code": 403, "json": {"errors": [{"detail": "key lacks the newsletters scope"}]}}


def paged_newsletters(requests_mock, second_page):
    """Page one of newsletters (2 records, `next` p2), then `second_page` (requests_mock kwargs)."""

    def answer(request, context):
        return page("newsletters", [newsletter(1), newsletter(2)], next="p2")

    requests_mock.get(f"{US}/newsletters", json=answer)
    requests_mock.get(f"{US}/newsletters?start=p2", **second_page)


@pytest.mark.parametrize("mode", [SyncMode.full_refresh, SyncMode.incremental])
def test_a_403_after_records_were_read_fails_that_stream_and_the_sync_goes_on(mode, requests_mock):
    """A key refused part-way through a table (its access changed during the sync) would leave a
    partial table behind a "skipped" warning: the stream fails instead, naming what was refused and
    how much was read; what it emitted stays, and the other streams are read."""
    paged_newsletters(requests_mock, FORBIDDEN)
    requests_mock.get(f"{US}/campaigns", json=CAMPAIGNS)
    output = read_stream(ConfigBuilder().build(), ["newsletters", "campaigns"], mode, expect_error=True)
    assert [r["id"] for r in records_of(output, "newsletters")] == [1, 2]
    assert [r["id"] for r in records_of(output, "campaigns")] == [1, 2]
    [error] = [e for e in error_traces(output) if e.stream_descriptor and e.stream_descriptor.name]
    assert error.stream_descriptor.name == "newsletters"
    assert error.failure_type == FailureType.config_error
    for words in ("'newsletters'", "GET /newsletters", "403", "key lacks the newsletters scope", "2 records"):
        assert words in error.message, (words, error.message)
    assert output.get_stream_statuses("newsletters")[-1] == AirbyteStreamStatus.INCOMPLETE
    assert not [line for line in log_lines(output, Level.WARN) if "skipped" in line]
    if mode == SyncMode.incremental:
        # The next sync resumes at the page that was refused, not after it.
        assert states_of(output, "newsletters")[-1]["resume"]["start"] == "p2"


def test_404_on_an_endpoint_that_must_exist_names_it(requests_mock):
    requests_mock.get(f"{US}/campaigns", status_code=404)
    output = read_campaigns(expect_error=True)
    errors = [e for e in error_traces(output) if e.stream_descriptor]
    assert errors and errors[0].failure_type == FailureType.transient_error
    assert errors[0].stream_descriptor.name == "campaigns"
    assert "/v1/campaigns" in errors[0].message and "404" in errors[0].message
    assert len(requests_mock.request_history) == 1


def test_404_on_one_stream_does_not_stop_the_others(requests_mock):
    requests_mock.get(f"{US}/campaigns", status_code=404)
    requests_mock.get(f"{US}/segments", json=page("segments", [segment(5)]))
    output = read_stream(ConfigBuilder().build(), ["campaigns", "segments"], expect_error=True)
    assert [r["id"] for r in records_of(output, "segments")] == [5]


def test_429_with_retry_after_waits_what_it_asks_then_succeeds(requests_mock, retry_sleeps):
    requests_mock.get(
        f"{US}/campaigns", [{"status_code": 429, "headers": {"Retry-After": "7"}}, {"status_code": 429}, OK]
    )
    output = read_campaigns()
    assert_campaigns_read(output)
    assert len(requests_mock.request_history) == 3
    # The CDK adds one second to each wait; without Retry-After, attempt 2 backs off 2 s.
    assert retry_sleeps.calls == [8, 3]


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 520])
def test_server_errors_and_timeouts_are_retried_then_succeed(status, requests_mock, retry_sleeps):
    requests_mock.get(f"{US}/campaigns", [{"status_code": status}, {"status_code": status}, OK])
    assert_campaigns_read(read_campaigns())
    assert len(requests_mock.request_history) == 3
    assert retry_sleeps.calls == [2, 3]  # 1 s then 2 s of backoff, plus the CDK's second


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.ConnectionError,
        requests.exceptions.ReadTimeout,
        requests.exceptions.ConnectTimeout,
        requests.exceptions.SSLError,
        requests.exceptions.ChunkedEncodingError,
    ],
)
def test_network_errors_are_retried_then_succeed(error, requests_mock):
    requests_mock.get(f"{US}/campaigns", [{"exc": error}, OK])
    assert_campaigns_read(read_campaigns())
    assert len(requests_mock.request_history) == 2


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>502 Bad Gateway</body></html>",
        b'{"campaigns": [{"id": 1, "name": "cut',
        b"",
    ],
)
def test_a_200_that_is_not_json_is_retried_then_succeeds(body, requests_mock):
    requests_mock.get(f"{US}/campaigns", [{"content": body, "headers": {"Content-Type": "text/html"}}, OK])
    output = read_campaigns()
    assert_campaigns_read(output)
    assert len(requests_mock.request_history) == 2


@pytest.mark.parametrize(
    "answer",
    [{"status_code": 503}, {"status_code": 429}, {"exc": requests.exceptions.ConnectionError}],
)
def test_exhausted_retries_are_a_transient_error_naming_stream_and_endpoint(answer, requests_mock):
    requests_mock.get(f"{US}/campaigns", **answer)
    output = read_campaigns(expect_error=True)
    errors = [e for e in error_traces(output) if e.failure_type == FailureType.transient_error]
    assert errors, [e.message for e in error_traces(output)]
    assert errors[0].stream_descriptor.name == "campaigns"
    assert "'campaigns'" in errors[0].message
    assert "GET /campaigns" in errors[0].message
    assert len(requests_mock.request_history) == MAX_RETRIES + 1
    assert output.records == []


def test_a_failure_after_other_streams_keeps_their_records(requests_mock):
    requests_mock.get(f"{US}/segments", json=page("segments", [segment(5)]))
    requests_mock.get(f"{US}/campaigns", status_code=500)
    output = read_stream(ConfigBuilder().build(), ["segments", "campaigns"], expect_error=True)
    assert [r["id"] for r in records_of(output, "segments")] == [5]
    assert output.get_stream_statuses("segments")[-1] == AirbyteStreamStatus.COMPLETE
    assert output.get_stream_statuses("campaigns")[-1] == AirbyteStreamStatus.INCOMPLETE


# -- the handler and the backoff, directly ------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (200, ResponseAction.SUCCESS),
        (401, ResponseAction.FAIL),
        (403, ResponseAction.IGNORE),
        (404, ResponseAction.IGNORE),
        (408, ResponseAction.RETRY),
        (429, ResponseAction.RATE_LIMITED),
        (500, ResponseAction.RETRY),
        (599, ResponseAction.RETRY),
    ],
)
def test_the_table_rows(status, action):
    handler = CustomerioErrorHandler(logger=logging.getLogger("test"))
    assert handler.interpret_response(http_answer(status)).response_action == action


@pytest.mark.parametrize(
    ("retry_after", "attempt", "expected"),
    [("7", 1, 7), ("0", 3, 0), ("9999", 1, 300), (None, 1, 1), (None, 3, 4), (None, 12, 60), ("soon", 2, 2)],
)
def test_backoff(retry_after, attempt, expected):
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    assert RetryAfterBackoff().backoff_time(http_answer(429, headers=headers), attempt) == expected


def test_backoff_after_a_network_error_is_exponential():
    error = requests.exceptions.ConnectionError()
    assert [RetryAfterBackoff().backoff_time(error, n) for n in (1, 2, 3)] == [1, 2, 4]


# -- SOURCE_CUSTOMERIO_BACKOFF_SCALE ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "scale"),
    [
        (None, 1.0),  # unset: production waits
        ("", 1.0),
        ("0.01", 0.01),
        (" 0.5 ", 0.5),
        ("1e-3", 0.001),
        ("0", 0.0),
        ("3", 1.0),  # never longer than production
        ("-2", 0.0),
        ("inf", 1.0),
        ("nan", 1.0),
        ("fast", 1.0),  # unreadable: production waits
    ],
)
def test_the_backoff_scale_is_read_and_clamped_to_0_1(raw, scale, monkeypatch):
    if raw is not None:
        monkeypatch.setenv(BACKOFF_SCALE_ENV, raw)
    error = requests.exceptions.ConnectionError()
    waits = [RetryAfterBackoff().backoff_time(error, attempt) for attempt in (1, 2, 3, 12)]
    # 1, 2, 4 s, then the 60 s cap; scaled, never below the floor that keeps the CDK's own schedule out.
    assert waits == [max(base * scale, MIN_BACKOFF_SECONDS) for base in (1, 2, 4, 60)]


def test_the_backoff_scale_never_shortens_what_retry_after_asks(monkeypatch):
    monkeypatch.setenv(BACKOFF_SCALE_ENV, "0.01")
    assert RetryAfterBackoff().backoff_time(http_answer(429, headers={"Retry-After": "7"}), 1) == 7
    assert RetryAfterBackoff().backoff_time(http_answer(429), 3) == 0.04


def test_a_sync_waits_the_scaled_backoff(monkeypatch, requests_mock, retry_sleeps):
    monkeypatch.setenv(BACKOFF_SCALE_ENV, "0.25")
    requests_mock.get(f"{US}/campaigns", [{"status_code": 503}, {"status_code": 503}, OK])
    assert_campaigns_read(read_campaigns())
    assert retry_sleeps.calls == [0.25 + 1, 0.5 + 1]  # the CDK adds its second to each wait
