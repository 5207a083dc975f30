"""ESP suppressions: four lists read side by side, each record tagged with its list."""

from __future__ import annotations

import pytest
from airbyte_cdk.models import FailureType, Level

from unit_tests.builders import (
    SUPPRESSION_TYPES,
    US,
    ConfigBuilder,
    calls_to,
    campaign,
    error_traces,
    log_lines,
    page,
    query,
    read_stream,
    records_of,
    suppression,
    suppression_pages,
)

LISTS = {
    "bounces": [suppression("both@example.com"), suppression("b1@example.com")],
    "blocks": [suppression("k1@example.com")],
    "spam_reports": [suppression("both@example.com", reason="complaint")],
    "invalid_emails": [suppression("bad@@example.com")],
}


def serve(requests_mock, lists=LISTS, **overrides) -> None:
    for kind in SUPPRESSION_TYPES:
        answer = overrides.get(kind, {"json": suppression_pages(lists)})
        requests_mock.get(f"{US}/esp/suppression/{kind}", **answer)


def read_suppressions(**kwargs):
    return read_stream(ConfigBuilder().build(), "eps_suppression", **kwargs)


def test_all_four_lists_are_read_with_the_type_added(requests_mock):
    serve(requests_mock)
    records = records_of(read_suppressions())
    assert [(r["suppression_type"], r["email"]) for r in records] == [
        ("bounces", "both@example.com"),
        ("bounces", "b1@example.com"),
        ("blocks", "k1@example.com"),
        ("spam_reports", "both@example.com"),
        ("invalid_emails", "bad@@example.com"),
    ]


def test_each_list_is_asked_1000_from_offset_0(requests_mock):
    serve(requests_mock)
    read_suppressions()
    for kind in SUPPRESSION_TYPES:
        [first, *_] = calls_to(requests_mock, f"/v1/esp/suppression/{kind}")
        assert query(first) == {"limit": "1000", "offset": "0"}


def test_an_address_in_two_lists_gives_two_records_with_distinct_keys(requests_mock):
    serve(requests_mock)
    records = [r for r in records_of(read_suppressions()) if r["email"] == "both@example.com"]
    assert sorted(r["suppression_type"] for r in records) == ["bounces", "spam_reports"]
    assert len({(r["suppression_type"], r["email"]) for r in records}) == 2
    assert {r["suppression_type"]: r["reason"] for r in records}["spam_reports"] == "complaint"


def test_records_are_normalised(requests_mock):
    serve(requests_mock, {"bounces": [suppression("x@example.com", created="1700000000")]})
    [record] = records_of(read_suppressions())
    assert record["created"] == 1_700_000_000


@pytest.mark.parametrize("missing", ["bounces", "spam_reports"])
def test_a_list_that_does_not_exist_is_read_as_empty(missing, requests_mock):
    serve(requests_mock, **{missing: {"status_code": 404}})
    output = read_suppressions()
    assert error_traces(output) == []
    types = {r["suppression_type"] for r in records_of(output)}
    assert types == set(SUPPRESSION_TYPES) - {missing}


def test_a_403_on_one_list_skips_that_list_only_and_the_sync_goes_on(requests_mock):
    serve(
        requests_mock,
        {"bounces": [suppression("a@x.io")], "spam_reports": [suppression("b@x.io")]},
        blocks={"status_code": 403, "json": {"errors": [{"detail": "no ESP scope"}]}},
    )
    requests_mock.get(f"{US}/campaigns", json=page("campaigns", [campaign(1)]))
    output = read_stream(ConfigBuilder().build(), ["eps_suppression", "campaigns"])
    assert error_traces(output) == []
    assert [r["id"] for r in records_of(output, "campaigns")] == [1]
    read = {(r["suppression_type"], r["email"]) for r in records_of(output, "eps_suppression")}
    assert read == {("bounces", "a@x.io"), ("spam_reports", "b@x.io")}
    warnings = [line for line in log_lines(output, Level.WARN) if "the blocks list is skipped" in line]
    assert warnings and "no ESP scope" in warnings[0] and "'eps_suppression'" in warnings[0]


def test_a_list_that_keeps_failing_names_stream_and_endpoint(requests_mock):
    serve(requests_mock, spam_reports={"status_code": 502})
    output = read_suppressions(expect_error=True)
    errors = [e for e in error_traces(output) if e.failure_type == FailureType.transient_error]
    assert errors
    assert "'eps_suppression'" in errors[0].message
    assert "GET /esp/suppression/spam_reports" in errors[0].message


def test_empty_lists_read_nothing_and_succeed(requests_mock):
    serve(requests_mock, {})
    output = read_suppressions()
    assert records_of(output) == []
    assert error_traces(output) == []
    assert len(requests_mock.request_history) == 4
