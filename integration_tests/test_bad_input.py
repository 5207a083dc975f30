"""Bad input: invalid settings, unusable saved state, and API records whose JSON types drift.

Invalid settings stop every command before any request, naming the field to fix (a FAILED check,
or a config_error TRACE and a non-zero exit); a state file that cannot be loaded is refused in words
that say it is the state, while values in it that cannot be used are set aside with a warning and the
stream is read safely from the start; drifting records reach the destination in the types of the
stream's schema.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from types import SimpleNamespace

import pytest

from integration_tests.connector import catalog, key_of
from integration_tests.scenarios import (
    assert_clean,
    assert_complete,
    assert_valid_records,
    config_for,
    new_sandbox,
    run,
    run_all,
    stream_state,
)

COMMANDS = ("check", "discover", "read")
# (field the message must name, what to change in a valid config)
INVALID_CONFIGS = {
    "start_date_yesterday": ("start_date", {"start_date": "yesterday"}),
    "empty_key": ("access_token", {"access_token": ""}),
    "ftp_base_url": ("base_url", {"base_url": "ftp://api.customer.io/v1"}),
    "clear_text_base_url": ("base_url", {"base_url": "http://api.customer.io/v1"}),
    "unknown_region": ("region", {"region": "mars", "base_url": None}),
}
TEN_YEARS = 10 * 365 * 86_400
# (stream, saved state); the stream is read whole, with a warning that quotes the unusable value.
BAD_STATES = {
    "cursor_not_a_time": ("campaigns", {"updated": "banana"}),
    "cursor_in_the_future": ("campaigns", {"updated": int(time.time()) + TEN_YEARS}),
    "window_not_a_time": ("messages", {"created": "soon"}),
    "window_in_the_future": ("messages", {"created": int(time.time()) + TEN_YEARS}),
    "search_cursor_not_a_string": ("customers", {"search_start": 12345}),
    "export_id_not_a_number": ("customers", {"export_id": "abc", "rows_done": 3}),
    "export_gone": ("customers", {"export_id": 99_999, "rows_done": 3}),
}
# Whole state files the CDK cannot load: refused with a config_error that says it is the state.
BROKEN_STATE_FILES = {
    "not_a_list": {"campaigns": {"updated": 5}},
    "stream_state_not_an_object": stream_state("campaigns", ["x"]),
    "no_stream": [{"type": "STREAM"}],
}
DRIFTING = ["broadcasts", "campaigns", "workspaces", "types", "messages"]


def _config(sandbox, change):
    config = {**config_for(sandbox), **change}
    return {name: value for name, value in config.items() if value is not None}


@pytest.fixture(scope="module")
def outcome():
    with ExitStack() as stack:
        sandbox = stack.enter_context(new_sandbox(seed=41, export_ready_after_polls=1))
        untouched = stack.enter_context(new_sandbox(seed=42))
        calls = {}
        for name, (_, change) in INVALID_CONFIGS.items():
            for command in COMMANDS:
                configured = catalog(["workspaces"]) if command == "read" else None
                calls[(name, command)] = lambda change=change, command=command, configured=configured: run(
                    command, _config(untouched, change), configured, timeout=60
                )
        for name, (stream, state) in BAD_STATES.items():
            method = "search" if "search" in name else "exports"
            calls[name] = lambda stream=stream, state=state, method=method: run(
                "read",
                config_for(sandbox, customers_method=method),
                catalog([stream], incremental=True),
                stream_state(stream, state),
                timeout=90,
            )
        for name, state in BROKEN_STATE_FILES.items():
            calls[name] = lambda state=state: run(
                "read", config_for(sandbox), catalog(["campaigns"], incremental=True), state, timeout=60
            )
        calls["drift"] = lambda: run("read", config_for(sandbox), catalog(DRIFTING))
        results = run_all(calls, workers=6)
        yield SimpleNamespace(sandbox=sandbox, untouched=untouched, results=results)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", list(INVALID_CONFIGS))
def test_an_invalid_setting_is_named_and_nothing_is_read(outcome, case, command):
    field, _ = INVALID_CONFIGS[case]
    result = outcome.results[(case, command)]
    assert_clean(result)
    assert result.records == []
    if command == "check":
        statuses = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
        assert len(statuses) == 1, result.stdout[-2000:]
        assert statuses[0]["status"] == "FAILED"
        assert field in statuses[0]["message"], statuses[0]
    else:
        assert result.exit_code != 0
        assert len(result.errors) == 1, result.errors
        error = result.errors[0]
        assert error["failure_type"] == "config_error"
        assert field in error["message"], error
        assert not error.get("stack_trace")


def test_no_request_is_sent_with_an_invalid_setting(outcome):
    assert outcome.untouched.stats()["total"] == 0


@pytest.mark.parametrize("case", list(BAD_STATES))
def test_unusable_state_is_set_aside_with_a_warning_and_the_stream_is_read_whole(outcome, case):
    """State that loads but cannot be used is never a failed sync (the user could only reset the
    connection): the stream is read from the start, and a warning names it and quotes the value."""
    stream, state = BAD_STATES[case]
    result = outcome.results[case]
    assert_clean(result)
    assert result.exit_code == 0, result.stdout[-2000:]
    assert result.errors == []
    assert_complete(outcome.sandbox, result, stream)
    named = [w for w in result.logs("WARN") if f"'{stream}'" in w]
    assert any(str(value) in w for w in named for value in state.values()), (
        f"the saved state {state} was set aside without a warning quoting it: {named}"
    )


@pytest.mark.parametrize("case", list(BROKEN_STATE_FILES))
def test_a_state_file_that_cannot_be_loaded_is_refused_in_plain_words(outcome, case):
    result = outcome.results[case]
    assert_clean(result)
    assert result.exit_code != 0
    assert result.records == []
    assert len(result.errors) == 1, result.errors
    error = result.errors[0]
    assert error["failure_type"] == "config_error"
    assert error["message"].startswith("Invalid state")


def test_drifting_types_are_normalised_to_the_schema(outcome):
    result = outcome.results["drift"]
    assert result.exit_code == 0, result.stdout[-2000:]
    assert_clean(result)
    for stream in DRIFTING:
        assert_complete(outcome.sandbox, result, stream)
        assert_valid_records(result, stream)
    campaigns = {key_of("campaigns", r): r for r in result.records_of("campaigns")}
    assert campaigns["17"]["id"] == 17, "an id sent as a string is an integer again"
    assert all(isinstance(r.get("tags"), (list, type(None))) for r in result.records_of("broadcasts"))
    assert all(isinstance(r["id"], str) for r in result.records_of("workspaces"))
    identifiers = [r["customer_identifiers"] for r in result.records_of("messages")]
    assert all(isinstance(i.get("cio_id"), (str, type(None))) for i in identifiers)
