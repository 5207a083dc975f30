"""The API key never appears in any output of any command (stdout, stderr, logs, traces, errors),
nor in a request URL; a customer export's signed download link is never printed.

Every scenario of the other robustness modules also ends with `assert_clean` over its complete
output; these add the paths most likely to leak: debug logging of requests and responses, a key
the API refuses, a key pasted into the wrong field, a key with blanks around it, and failures.
"""

from __future__ import annotations

import secrets
from contextlib import ExitStack
from types import SimpleNamespace

import pytest

from integration_tests.connector import catalog
from integration_tests.sandbox import Faults
from integration_tests.scenarios import (
    FAST_BACKOFF,
    SECRET_KEY,
    DownloadTokens,
    RequestLog,
    assert_clean,
    config_for,
    new_sandbox,
    output_of,
    run,
    run_all,
    start_date_days_ago,
)

WRONG_KEY = f"sk-SECRET-wrong-{secrets.token_hex(12)}"
DEBUG_STREAMS = ["customers", "workspaces", "newsletters", "messages"]


@pytest.fixture(scope="module")
def outcome():
    with ExitStack() as stack:
        enter = stack.enter_context
        debug = enter(new_sandbox(seed=61, faults=Faults(error_500=0.1), export_ready_after_polls=1))
        refused = enter(new_sandbox(seed=62))
        failing = enter(new_sandbox(seed=63, faults=Faults(html_error=1.0)))
        tokens = DownloadTokens(debug)
        requests = RequestLog(debug)
        recent = start_date_days_ago(740)
        padded = {
            **config_for(debug, customers_method="exports", start_date=recent),
            "access_token": f"  {SECRET_KEY}\n",
        }
        wrong = {**config_for(refused), "access_token": WRONG_KEY}
        misplaced = {**config_for(refused), "start_date": SECRET_KEY, "base_url": f"ftp://{SECRET_KEY}@x/v1"}
        calls = {
            "debug_read": lambda: run(
                "read", padded, catalog(DEBUG_STREAMS), extra_args=["--debug"], env=FAST_BACKOFF
            ),
            "debug_check": lambda: run("check", padded, extra_args=["--debug"], env=FAST_BACKOFF),
            "wrong_key_check": lambda: run("check", wrong),
            "wrong_key_read": lambda: run("read", wrong, catalog(["campaigns"]), extra_args=["--debug"]),
            "misplaced_check": lambda: run("check", misplaced),
            "misplaced_read": lambda: run("read", misplaced, catalog(["campaigns"])),
            "failing_read": lambda: run(
                "read", config_for(failing), catalog(["segments"]), env=FAST_BACKOFF, timeout=90
            ),
        }
        results = run_all(calls)
        yield SimpleNamespace(tokens=tokens, requests=requests, debug=debug, **results)


def test_debug_logging_of_requests_and_responses_shows_neither_key_nor_signed_link(outcome):
    result = outcome.debug_read
    assert result.exit_code == 0, result.stdout[-3000:]
    # Debug logging was on: request headers and response bodies were printed (masked).
    assert '"Making outbound API request"' in result.stdout
    assert "Bearer ****" in result.stdout
    assert outcome.tokens.issued, "the export was downloaded through a signed link"
    assert_clean(result, *outcome.tokens.issued)
    assert "/_downloads/" not in output_of(result)


def test_a_key_with_blanks_around_it_is_masked_in_both_forms(outcome):
    for result in (outcome.debug_read, outcome.debug_check):
        assert_clean(result, f"  {SECRET_KEY}", SECRET_KEY.strip())


def test_the_key_travels_in_a_header_only(outcome):
    assert outcome.requests.targets
    assert not any(SECRET_KEY in target for target in outcome.requests.targets)
    assert outcome.debug.stats()["download_requests_with_authorization"] == 0


@pytest.mark.parametrize("command", ["check", "read"])
def test_a_refused_key_is_reported_without_being_shown(outcome, command):
    result = getattr(outcome, f"wrong_key_{command}")
    assert_clean(result, WRONG_KEY)
    if command == "check":
        (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
        assert status["status"] == "FAILED"
        assert "401" in status["message"]
    else:
        assert result.exit_code != 0
        assert result.errors and result.errors[0]["failure_type"] == "config_error"
        assert "401" in result.errors[0]["message"]


@pytest.mark.parametrize("command", ["check", "read"])
def test_a_key_pasted_into_another_field_is_not_echoed_by_its_error(outcome, command):
    result = getattr(outcome, f"misplaced_{command}")
    assert_clean(result)
    assert "start_date" in output_of(result)


def test_a_sync_that_fails_after_retries_does_not_show_the_key(outcome):
    result = outcome.failing_read
    assert result.exit_code != 0
    assert any(e["failure_type"] == "transient_error" for e in result.errors), result.errors
    assert_clean(result)
