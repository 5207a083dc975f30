"""ESP suppressions per sending domain (`esp_suppression_domains`): each list is read once per domain, the
domain goes into the record and the key; without domains the stream is as before."""

from __future__ import annotations

import pytest
from airbyte_cdk.models import FailureType, Level
from airbyte_cdk.test.entrypoint_wrapper import discover

from source_customerio import SourceCustomerio
from source_customerio.config import CustomerioConfig
from unit_tests.builders import (
    SUPPRESSION_TYPES,
    US,
    ConfigBuilder,
    error_traces,
    log_lines,
    path_of,
    query,
    read_stream,
    records_of,
    suppression,
)

MAIL, NEWS = "mail.example.com", "news.example.com"
# (type, domain) -> rows; "both@" is suppressed on both domains.
LISTS = {
    ("bounces", MAIL): [suppression("both@example.com"), suppression("m@example.com")],
    ("bounces", NEWS): [suppression("both@example.com", reason="news bounce")],
    ("spam_reports", NEWS): [suppression("n@example.com")],
}


def serve(requests_mock, lists=LISTS, status: dict | None = None) -> None:
    def answer(request, context):
        kind, params = path_of(request).rsplit("/", 1)[-1], query(request)
        domain = params.get("domain")
        if status and domain in status:
            context.status_code = status[domain]
            return {"errors": [{"detail": f"no such domain {domain}"}]}
        offset, limit = int(params["offset"]), int(params["limit"])
        return {"suppressions": list(lists.get((kind, domain), []))[offset : offset + limit]}

    for kind in SUPPRESSION_TYPES:
        requests_mock.get(f"{US}/esp/suppression/{kind}", json=answer)


def config(*domains: str) -> dict:
    return ConfigBuilder().with_(esp_suppression_domains=list(domains)).build()


def test_each_list_is_read_once_per_domain_with_the_domain_in_the_request(requests_mock):
    serve(requests_mock)
    read_stream(config(MAIL, NEWS), "eps_suppression")
    asked = [(path_of(r).rsplit("/", 1)[-1], query(r)) for r in requests_mock.request_history]
    firsts = {(kind, q["domain"]) for kind, q in asked if q["offset"] == "0" and q["limit"] == "1000"}
    assert firsts == {(kind, domain) for kind in SUPPRESSION_TYPES for domain in (MAIL, NEWS)}
    assert len(firsts) == len([q for _, q in asked if q["offset"] == "0"])  # each list once
    # A list with rows is asked again after them (the short-page rule), for the same domain.
    assert sorted((k, q["domain"], q["offset"]) for k, q in asked if q["offset"] != "0") == [
        ("bounces", MAIL, "2"),
        ("bounces", NEWS, "1"),
        ("spam_reports", NEWS, "1"),
    ]


def test_records_carry_their_domain_and_an_address_on_two_domains_gives_two_records(requests_mock):
    serve(requests_mock)
    records = records_of(read_stream(config(MAIL, NEWS), "eps_suppression"))
    assert sorted((r["suppression_type"], r["domain"], r["email"]) for r in records) == [
        ("bounces", MAIL, "both@example.com"),
        ("bounces", MAIL, "m@example.com"),
        ("bounces", NEWS, "both@example.com"),
        ("spam_reports", NEWS, "n@example.com"),
    ]
    assert {r["reason"] for r in records if r["domain"] == NEWS and r["email"] == "both@example.com"} == {
        "news bounce"
    }


def test_without_domains_the_lists_are_read_without_one_and_records_have_no_domain(requests_mock):
    serve(requests_mock, {("bounces", None): [suppression("x@example.com")]})
    records = records_of(read_stream(ConfigBuilder().build(), "eps_suppression"))
    assert records == [{**suppression("x@example.com"), "suppression_type": "bounces"}]
    assert all("domain" not in query(r) for r in requests_mock.request_history)
    assert {path_of(r).rsplit("/", 1)[-1] for r in requests_mock.request_history} == set(SUPPRESSION_TYPES)


@pytest.mark.parametrize(
    ("domains", "key"),
    [((), ["suppression_type", "email"]), ((MAIL,), ["suppression_type", "domain", "email"])],
)
def test_the_primary_key_has_the_domain_only_when_domains_are_set(domains, key):
    no_sample = {**config(*domains), "attribute_columns": False}  # no people to sample here
    streams = discover(SourceCustomerio(), no_sample).catalog.catalog.streams
    [entry] = [s for s in streams if s.name == "eps_suppression"]
    assert entry.source_defined_primary_key == [[k] for k in key]
    assert "domain" in entry.json_schema["properties"]


def test_a_domain_the_api_does_not_know_is_read_as_empty_with_a_warning(requests_mock):
    serve(requests_mock, status={"typo.example.com": 404})
    output = read_stream(config(MAIL, "typo.example.com"), "eps_suppression")
    assert error_traces(output) == []
    assert {r["domain"] for r in records_of(output)} == {MAIL}
    warnings = [w for w in log_lines(output, Level.WARN) if "typo.example.com" in w]
    assert len(warnings) == len(SUPPRESSION_TYPES)
    assert all("esp_suppression_domains" in w and "404" in w for w in warnings)


def test_a_domain_the_api_refuses_is_a_config_error_naming_it(requests_mock):
    serve(requests_mock, status={"bad.example.com": 400})
    output = read_stream(config("bad.example.com"), "eps_suppression", expect_error=True)
    errors = [e for e in error_traces(output) if e.failure_type == FailureType.config_error]
    assert errors and "'bad.example.com'" in errors[0].message
    assert "esp_suppression_domains" in errors[0].message


def test_domains_are_normalised_and_nonsense_is_refused():
    settings = CustomerioConfig.from_mapping(config(" Mail.Example.com. ", MAIL, NEWS))
    assert settings.esp_suppression_domains == [MAIL, NEWS]
    with pytest.raises(Exception, match=r"esp_suppression_domains 'https://x\.io' is not a sending domain"):
        CustomerioConfig.from_mapping(config("https://x.io"))
    with pytest.raises(Exception, match=r"esp_suppression_domains ' ' is not a sending domain"):
        CustomerioConfig.from_mapping(config(" "))
