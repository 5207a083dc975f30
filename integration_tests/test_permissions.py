"""A key that may not read some endpoints (403): `check` says which streams it cannot read, a sync
skips those with a warning naming them, and every other stream is read whole."""

from __future__ import annotations

from contextlib import ExitStack
from types import SimpleNamespace

import pytest

from integration_tests.connector import STREAMS, catalog
from integration_tests.scenarios import assert_clean, assert_complete, config_for, new_sandbox, run, run_all

# Streams whose endpoints the key may not read: a list, a paged list, the windowed deliveries
# (worker threads), people (search and hydration) and the four suppression lists.
FORBIDDEN = {
    "newsletters": "/v1/newsletters",
    "messages": "/v1/messages",
    "customers": "/v1/customers",
    "eps_suppression": "/v1/esp/suppression",
}
# Read per newsletter: with the newsletter list refused, they are skipped with a warning too.
UNDER_FORBIDDEN = {"newsletter_variants": "/newsletters", "newsletter_metrics": "/newsletters"}
READABLE = [s for s in STREAMS if s not in FORBIDDEN and s not in UNDER_FORBIDDEN]
ONE_SUPPRESSION_LIST = "/v1/esp/suppression/spam_reports"


@pytest.fixture(scope="module")
def outcome():
    with ExitStack() as stack:
        enter = stack.enter_context
        limited = enter(new_sandbox(seed=51, forbidden_paths=list(FORBIDDEN.values())))
        one_list = enter(new_sandbox(seed=52, forbidden_paths=[ONE_SUPPRESSION_LIST]))
        no_export = enter(new_sandbox(seed=53, forbidden_paths=["/v1/exports/customers"]))
        calls = {
            "check": lambda: run("check", config_for(limited)),
            "read": lambda: run("read", config_for(limited, customers_method="search"), catalog()),
            "one_list_check": lambda: run("check", config_for(one_list)),
            "one_list_read": lambda: run("read", config_for(one_list), catalog(["eps_suppression"])),
            "no_export_read": lambda: run(
                "read", config_for(no_export, customers_method="auto"), catalog(["customers"])
            ),
        }
        results = run_all(calls)
        yield SimpleNamespace(limited=limited, one_list=one_list, no_export=no_export, **results)


def _status(result):
    statuses = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
    assert len(statuses) == 1, result.stdout[-2000:]
    return statuses[0]


def test_check_names_every_stream_the_key_cannot_read(outcome):
    result = outcome.check
    assert_clean(result)
    status = _status(result)
    message = status["message"]
    for stream in FORBIDDEN:
        assert stream in message, message
    # Only those: the readable ones are not listed among them.
    listed = message.split("stream(s)", 1)[-1]
    for stream in ("campaigns", "broadcasts", "workspaces", "activities"):
        assert stream not in listed, message


def test_a_sync_skips_the_forbidden_streams_with_a_warning_naming_each(outcome):
    result = outcome.read
    assert_clean(result)
    assert result.exit_code == 0, result.stdout[-3000:]
    assert result.errors == []
    warnings = result.logs("WARN")
    for stream, path in {**FORBIDDEN, **UNDER_FORBIDDEN}.items():
        assert result.records_of(stream) == []
        named = [w for w in warnings if f"'{stream}'" in w]
        assert named, (stream, warnings)
        assert path.removeprefix("/v1") in named[0], named[0]


@pytest.mark.parametrize("stream", READABLE)
def test_a_sync_reads_every_other_stream_whole(outcome, stream):
    assert_complete(outcome.limited, outcome.read, stream)


def test_check_names_a_stream_when_one_of_its_endpoints_is_forbidden(outcome):
    """The key may read three of the four suppression lists: check does not call it fully readable."""
    check = outcome.one_list_check
    assert_clean(check)
    assert "eps_suppression" in _status(check)["message"], _status(check)


def test_one_forbidden_suppression_list_skips_that_list_only(outcome):
    """The three lists the key may read are read whole, and the warning names the one it may not:
    the suppression type is part of each record's key, so the table says what it holds."""
    result = outcome.one_list_read
    assert_clean(result)
    assert result.exit_code == 0, result.stdout[-3000:]
    assert result.errors == []
    named = [w for w in result.logs("WARN") if "eps_suppression" in w and "spam_reports" in w]
    assert named, result.logs("WARN")
    truth = set(outcome.one_list.truth("eps_suppression")["keys"])
    readable = {key for key in truth if not key.startswith("spam_reports|")}
    assert readable and readable != truth, "the sandbox holds rows of the forbidden list and of others"
    got = result.keys_of("eps_suppression")
    assert len(got) == len(set(got)), "a suppression was emitted twice"
    missing, extra = sorted(readable - set(got)), sorted(set(got) - readable)
    assert (missing, extra) == ([], []), f"missing {missing[:4]}, extra {extra[:4]}"


def test_people_are_read_by_search_when_the_key_may_not_export(outcome):
    """customers_method auto prefers an export for large workspaces; a key without export rights
    can still search, so people are read that way (with a warning), not skipped."""
    result = outcome.no_export_read
    assert_clean(result)
    assert result.exit_code == 0, result.stdout[-3000:]
    assert_complete(outcome.no_export, result, "customers")
    assert any("export" in w for w in result.logs("WARN")), result.logs("WARN")
