"""What the connector says about retries: each wait's log line (endpoint, reason, count), the last
line when it gives up, the error once retries ran out, and the daily-quota hint."""

from __future__ import annotations

import logging
from functools import partial

import pytest
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.exceptions import UserDefinedBackoffException
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_customerio.http.error_table import MAX_RETRIES, RetryAfterBackoff, quota_hint
from unit_tests.builders import US, ConfigBuilder, error_traces, http_answer, log_lines, read_stream

CAMPAIGNS = f"{US}/campaigns"
QUOTA_HINT = (
    "Customer.io kept answering 429 (too many requests) without a Retry-After header, which it does "
    "when a daily request quota is used up: the workspace's quota may have been reached. Run the sync "
    "again once the quota has reset (it resumes from the last state), lower requests_per_second if "
    "other apps share the workspace, or ask Customer.io support about the workspace's limits"
)


answer = partial(http_answer, url=f"{CAMPAIGNS}?limit=1")


def logged_backoff(caplog, response_or_exception, attempt: int) -> tuple[float | None, list[str]]:
    logger = logging.getLogger("test.retries")
    with caplog.at_level(logging.INFO, logger="test.retries"):
        wait = RetryAfterBackoff(logger=logger).backoff_time(response_or_exception, attempt)
    return wait, [r.getMessage() for r in caplog.records if r.name == "test.retries"]


@pytest.mark.parametrize(
    ("what", "attempt", "line"),
    [
        (answer(503), 1, "Retrying GET /v1/campaigns in 2.0 s (retry 1 of 8): HTTP 503."),
        (answer(503), MAX_RETRIES, "Retrying GET /v1/campaigns in 61.0 s (retry 8 of 8): HTTP 503."),
        (answer(503), MAX_RETRIES + 1, "Giving up on GET /v1/campaigns after 9 attempts: HTTP 503."),
        (
            answer(429, headers={"Retry-After": "7"}),
            1,
            "Retrying GET /v1/campaigns in 8.0 s (retry 1 of 8): rate limited (429, Retry-After: 7).",
        ),
        (
            answer(200, b"<html>busy</html>", {"Content-Type": "text/html"}),
            2,
            "Retrying GET /v1/campaigns in 3.0 s (retry 2 of 8): the body is not JSON (text/html, 17 bytes).",
        ),
        (
            answer(200, b"{cut", {}),
            1,
            "Retrying GET /v1/campaigns in 2.0 s (retry 1 of 8): the body is not JSON (no content type, "
            "4 bytes).",
        ),
        (
            requests.exceptions.ConnectionError(request=requests.Request("POST", CAMPAIGNS).prepare()),
            1,
            "Retrying POST /v1/campaigns in 2.0 s (retry 1 of 8): ConnectionError.",
        ),
        (requests.exceptions.ReadTimeout(), 1, "Retrying ? in 2.0 s (retry 1 of 8): ReadTimeout."),
        (None, 1, "Retrying ? in 2.0 s (retry 1 of 8): no answer."),
    ],
)
def test_each_retry_is_logged_with_its_endpoint_wait_and_reason(what, attempt, line, caplog):
    _, lines = logged_backoff(caplog, what, attempt)
    assert lines == [line]


def test_the_logged_endpoint_carries_no_query(caplog):
    """Only the path is logged: a query may carry a signed link's signature or a cursor."""
    _, [line] = logged_backoff(caplog, answer(503), 1)
    assert "limit" not in line and "?" not in line


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        ({"status_code": 503}, "Customer.io answered 503 (unavailable)."),
        ({"status_code": 502}, "Customer.io answered 502 (bad gateway)."),
        ({"status_code": 507}, "Customer.io answered 507."),
        ({"status_code": 408}, "Customer.io timed out (408)."),
        (
            # As requests raises it: carrying the request it could not send.
            {"exc": requests.exceptions.ConnectTimeout(request=requests.Request("GET", CAMPAIGNS).prepare())},
            "ConnectTimeout on /v1/campaigns; retrying.",
        ),
        ({"text": "<html>proxy</html>", "headers": {"Content-Type": "text/html"}}, "not JSON (text/html"),
    ],
)
def test_the_error_after_the_last_retry_says_what_the_api_kept_answering(answers, reason, requests_mock):
    requests_mock.get(CAMPAIGNS, **answers)
    output = read_stream(ConfigBuilder().build(), "campaigns", expect_error=True)
    [error] = [e for e in error_traces(output) if e.stream_descriptor]
    assert error.failure_type == FailureType.transient_error
    assert reason in error.message
    assert any(
        line.startswith("Giving up on GET /v1/campaigns after 9 attempts: ") for line in log_lines(output)
    )


# -- the daily-quota hint, directly ----------------------------------------------------------------


def exhausted(last_answer: requests.Response) -> UserDefinedBackoffException:
    return UserDefinedBackoffException(backoff=1, request=last_answer.request, response=last_answer)


def test_the_quota_hint_for_a_cause_the_cdk_attaches():
    error = AirbyteTracedException(message="API rate limit exceeded.", exception=exhausted(answer(429)))
    assert error.__context__ is None
    assert quota_hint(error) == QUOTA_HINT


def test_the_quota_hint_for_a_cause_raised_during_the_handling():
    try:
        try:
            raise exhausted(answer(429))
        except UserDefinedBackoffException:
            raise AirbyteTracedException(message="API rate limit exceeded.") from None
    except AirbyteTracedException as error:
        assert quota_hint(error) == QUOTA_HINT


@pytest.mark.parametrize(
    "error",
    [
        AirbyteTracedException(message="x", exception=exhausted(answer(429, headers={"Retry-After": "2"}))),
        AirbyteTracedException(message="x", exception=exhausted(answer(503))),
        AirbyteTracedException(message="x", exception=requests.exceptions.ConnectionError()),
        AirbyteTracedException(message="x"),
        ValueError("no cause at all"),
    ],
    ids=["429 with Retry-After", "503", "network error", "no cause", "not a traced error"],
)
def test_no_quota_hint_for_anything_else(error):
    assert quota_hint(error) is None


def test_the_error_when_a_daily_quota_may_be_reached_is_the_hint_itself(requests_mock):
    requests_mock.get(CAMPAIGNS, status_code=429)
    output = read_stream(ConfigBuilder().build(), "campaigns", expect_error=True)
    [error] = [e for e in error_traces(output) if e.stream_descriptor]
    assert error.message == (
        f"Stream 'campaigns': GET /campaigns: {QUOTA_HINT}. Records and state emitted so far are kept."
    )


def test_every_request_carries_the_connect_and_read_timeouts(requests_mock):
    """Without them a server that accepts the connection and never answers would stall the sync."""
    requests_mock.get(CAMPAIGNS, json={"campaigns": []})
    read_stream(ConfigBuilder().build(), "campaigns")
    assert [r.timeout for r in requests_mock.request_history] == [(10.0, 60.0)]


def test_retries_the_cdk_runs_out_of_say_the_request_kept_failing(requests_mock, retry_sleeps):
    """InvalidURL is left to the CDK, which retries it as a DNS error (a system error); when its retries
    run out, the error says the request kept failing, with the cause, as for the table's own retries,
    not that it was refused."""
    requests_mock.get(CAMPAIGNS, exc=requests.exceptions.InvalidURL("no such host"))
    output = read_stream(ConfigBuilder().build(), "campaigns", expect_error=True)
    assert len(requests_mock.request_history) == MAX_RETRIES + 1
    [error] = [e for e in error_traces(output) if e.stream_descriptor]
    assert error.message.startswith("Stream 'campaigns': GET /campaigns kept failing after retries (")
    assert "DNS error" in error.message and "was refused" not in error.message
    assert error.failure_type == FailureType.transient_error


def test_an_exception_outside_requests_fails_the_stream_at_once(requests_mock, retry_sleeps):
    """The CDK's HttpClient retries only `requests` exceptions: anything else is a fault in the code,
    not the network, and ends the stream at once with its cause."""
    requests_mock.get(CAMPAIGNS, exc=ValueError("the transport broke"))
    output = read_stream(ConfigBuilder().build(), "campaigns", expect_error=True)
    assert len(requests_mock.request_history) == 1
    [error] = [e for e in error_traces(output) if e.stream_descriptor]
    assert error.failure_type == FailureType.system_error and error.internal_message == "the transport broke"
