"""A flaky API: 5xx, resets, cut-off and HTML bodies, 429 bursts, slow answers, and an API that
never recovers. Every read that can finish returns exactly the ground truth; one that cannot ends
with a transient_error TRACE naming the stream and endpoint, without hanging or a traceback.

The scenarios run side by side in one module fixture (they mostly wait out retries)."""

from __future__ import annotations

from contextlib import ExitStack
from types import SimpleNamespace

import pytest

from integration_tests.connector import STREAMS, catalog
from integration_tests.sandbox import Faults
from integration_tests.scenarios import (
    FAST_BACKOFF,
    DownloadTokens,
    assert_clean,
    assert_complete,
    assert_valid_records,
    config_for,
    new_sandbox,
    run,
    run_all,
    start_date_days_ago,
)

# The rates of the issue, and a burst of 429s, about half of them without Retry-After.
EVERYDAY_FAULTS = Faults(
    error_500=0.05,
    error_502=0.02,
    connection_reset=0.02,
    truncated_json=0.01,
    html_error=0.01,
    burst_429=3,
    retry_after_missing=0.5,
)
# Every broken-answer kind, often enough that each occurs in a short read.
BROKEN_ANSWERS = Faults(connection_reset=0.07, error_502=0.07, truncated_json=0.07, html_error=0.07)
# Paged streams, and those read with worker threads (delivery windows, hydration, suppression types).
PAGED = ["newsletters", "activities", "messages", "customers", "eps_suppression"]
SEQUENTIAL = ["broadcasts", "campaigns", "newsletters", "segments", "activities", "workspaces"]
NEVER_RECOVERS = ("error_500", "connection_reset")
# How long a "slow" answer is held back: longer than `run` lets a read take before calling it hung.
SLOW_SECONDS = 600
# A stream read on the main thread, and one whose windows are read by worker threads.
DOWN_STREAMS = {"newsletters": "/newsletters", "messages": "/messages"}


@pytest.fixture(scope="module")
def outcome():
    with ExitStack() as stack:
        enter = stack.enter_context
        everyday = enter(new_sandbox(seed=21, faults=EVERYDAY_FAULTS, export_ready_after_polls=1))
        broken = enter(new_sandbox(seed=5, faults=BROKEN_ANSWERS))
        slow = enter(new_sandbox(seed=3, faults=Faults(slow=0.25, slow_seconds=SLOW_SECONDS)))
        down = {fault: enter(new_sandbox(seed=2, faults=Faults(**{fault: 1.0}))) for fault in NEVER_RECOVERS}
        tokens = DownloadTokens(everyday)
        recent = start_date_days_ago(740)
        calls = {
            "everyday": lambda: run("read", config_for(everyday, customers_method="exports"), catalog()),
            "broken": lambda: run(
                "read",
                config_for(broken, customers_method="search", start_date=recent),
                catalog(PAGED),
                env=FAST_BACKOFF,
            ),
            "slow": lambda: run(
                "read",
                config_for(slow, request_timeout_seconds=1),
                catalog(SEQUENTIAL),
                env=FAST_BACKOFF,
            ),
            **{
                fault: lambda sandbox=sandbox: run(
                    "read", config_for(sandbox), catalog(list(DOWN_STREAMS)), env=FAST_BACKOFF, timeout=120
                )
                for fault, sandbox in down.items()
            },
        }
        results = run_all(calls)
        yield SimpleNamespace(
            everyday=(everyday, results["everyday"], tokens),
            broken=(broken, results["broken"]),
            slow=(slow, results["slow"]),
            down={fault: (down[fault], results[fault]) for fault in NEVER_RECOVERS},
        )


def test_everyday_faults_end_in_a_clean_successful_read(outcome):
    sandbox, result, tokens = outcome.everyday
    assert result.exit_code == 0, result.stdout[-3000:]
    assert result.errors == []
    stats = sandbox.stats()
    assert sum(stats["faults_injected"].values()) >= 3, stats["faults_injected"]
    assert stats["served_429"] >= 3
    retries = [line for line in result.logs() if line.startswith("Retrying ")]
    assert any("Retry-After: 1" in line for line in retries), retries
    assert any("Retry-After: none" in line for line in retries), retries
    assert tokens.issued, "the customer export was downloaded through a signed link"
    assert_clean(result, *tokens.issued)


@pytest.mark.parametrize("stream", STREAMS)
def test_everyday_faults_lose_and_repeat_nothing(outcome, stream):
    sandbox, result, _ = outcome.everyday
    assert_complete(sandbox, result, stream)
    assert_valid_records(result, stream)


def test_each_kind_of_broken_answer_is_retried_until_the_read_is_complete(outcome):
    """Resets, 502 proxy pages, 200s with an HTML page or half a JSON body."""
    sandbox, result = outcome.broken
    injected = sandbox.stats()["faults_injected"]
    assert result.exit_code == 0, result.stdout[-3000:]
    for kind in ("connection_reset", "error_502", "truncated_json", "html_error"):
        assert injected.get(kind, 0) >= 1, injected
    for stream in PAGED:
        assert_complete(sandbox, result, stream)
    retries = [line for line in result.logs() if line.startswith("Retrying ")]
    assert any("not JSON" in line for line in retries), retries
    assert_clean(result)


def test_answers_slower_than_the_request_timeout_are_abandoned_and_retried(outcome):
    """Each slow answer is given up after the 1 s request timeout and asked again: one ReadTimeout
    retry per slow answer the sandbox held back. (A read that waited for one would still be waiting
    when `run` stops it, and fail as hung.)"""
    sandbox, result = outcome.slow
    held_back = sandbox.stats()["faults_injected"].get("slow", 0)
    assert held_back >= 1
    assert result.exit_code == 0, result.stdout[-3000:]
    for stream in SEQUENTIAL:
        assert_complete(sandbox, result, stream)
    timeouts = [line for line in result.logs() if line.startswith("Retrying ") and "ReadTimeout" in line]
    assert len(timeouts) >= held_back, (held_back, timeouts)
    assert_clean(result)


@pytest.mark.parametrize("fault", NEVER_RECOVERS)
def test_an_api_that_never_recovers_ends_the_sync_with_a_transient_error(outcome, fault):
    sandbox, result = outcome.down[fault]
    attempts = sandbox.stats()["by_endpoint"].get("GET /v1/newsletters", 0)
    assert result.exit_code != 0
    assert result.records == []
    assert 2 <= attempts <= 12, f"retried up to the bound, then gave up: {attempts} attempts"
    errors = result.errors
    assert errors, result.stdout[-2000:]
    assert all(error["failure_type"] == "transient_error" for error in errors), errors
    for stream, endpoint in DOWN_STREAMS.items():
        named = [e for e in errors if (e.get("stream_descriptor") or {}).get("name") == stream]
        assert named, (stream, errors)
        assert stream in named[0]["message"] and endpoint in named[0]["message"], named[0]
    # The sync's last word is a transient error too, not the CDK's generic config_error summary.
    assert errors[-1]["failure_type"] == "transient_error"
    assert_clean(result)
