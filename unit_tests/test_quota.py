"""429 without Retry-After (Customer.io's answer when a daily quota is used up): back off exponentially,
log each wait with its endpoint, and when the retries run out say that a quota may be exhausted."""

from __future__ import annotations

from airbyte_cdk.models import FailureType

from source_customerio.http.error_table import MAX_RETRIES
from unit_tests.builders import (
    US,
    ConfigBuilder,
    campaign,
    error_traces,
    log_lines,
    page,
    read_stream,
    records_of,
)


def read_campaigns(expect_error=False):
    return read_stream(ConfigBuilder().build(), "campaigns", expect_error=expect_error)


def retry_lines(output) -> list[str]:
    return [line for line in log_lines(output) if line.startswith("Retrying ")]


def test_each_wait_is_logged_with_endpoint_wait_and_the_quota_hint(requests_mock, retry_sleeps):
    requests_mock.get(
        f"{US}/campaigns",
        [{"status_code": 429}, {"status_code": 429}, {"json": page("campaigns", [campaign(1)])}],
    )
    output = read_campaigns()
    assert [r["id"] for r in records_of(output)] == [1]
    assert retry_lines(output) == [
        "Retrying GET /v1/campaigns in 2.0 s (retry 1 of 8): rate limited (429, Retry-After: none; "
        "a daily quota may have been reached).",
        "Retrying GET /v1/campaigns in 3.0 s (retry 2 of 8): rate limited (429, Retry-After: none; "
        "a daily quota may have been reached).",
    ]
    assert retry_sleeps.calls == [2.0, 3.0]  # 1 s, 2 s of backoff, plus the CDK's second


def test_when_retries_run_out_the_error_says_a_daily_quota_may_be_reached(requests_mock, retry_sleeps):
    requests_mock.get(f"{US}/campaigns", status_code=429, json={"errors": [{"detail": "rate limited"}]})
    output = read_campaigns(expect_error=True)
    assert len(requests_mock.request_history) == MAX_RETRIES + 1
    # Exponential, capped at 60 s: about three minutes in all before giving up.
    assert retry_sleeps.calls == [2, 3, 5, 9, 17, 33, 61, 61]
    [error] = [e for e in error_traces(output) if e.stream_descriptor]
    assert error.failure_type == FailureType.transient_error
    assert "'campaigns'" in error.message and "GET /campaigns" in error.message
    assert "daily request quota" in error.message and "Retry-After" in error.message
    assert "once the quota has reset" in error.message and "requests_per_second" in error.message


def test_a_429_that_gives_retry_after_is_not_called_a_quota(requests_mock, retry_sleeps):
    requests_mock.get(f"{US}/campaigns", status_code=429, headers={"Retry-After": "1"})
    output = read_campaigns(expect_error=True)
    [error] = [e for e in error_traces(output) if e.stream_descriptor]
    assert error.failure_type == FailureType.transient_error
    assert "quota" not in error.message and "kept failing after retries" in error.message
    assert all("Retry-After: 1)" in line for line in retry_lines(output))
