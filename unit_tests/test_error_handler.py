"""The error handler's verdict on answers and exceptions the error table has no row for, directly."""

from __future__ import annotations

import logging
from functools import partial

import pytest
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import ResponseAction

from source_customerio.http.error_table import CustomerioErrorHandler, payload_of
from unit_tests.builders import US, http_answer

CAMPAIGNS = f"{US}/campaigns?limit=10"


answer = partial(http_answer, url=CAMPAIGNS)


def verdict(what: requests.Response | Exception) -> tuple[ResponseAction, FailureType | None, str | None]:
    resolution = CustomerioErrorHandler(logger=logging.getLogger("test")).interpret_response(what)
    return resolution.response_action, resolution.failure_type, resolution.error_message


@pytest.mark.parametrize("status", [400, 405, 409, 410, 418, 422, 451, 499])
def test_client_errors_other_than_401_and_429_are_passed_back_to_the_stream(status):
    assert verdict(answer(status, b'{"errors": []}')) == (ResponseAction.IGNORE, None, None)


@pytest.mark.parametrize("status", [501, 505, 520, 599])
def test_server_errors_without_a_row_are_retried_with_their_status(status):
    expected = (ResponseAction.RETRY, FailureType.transient_error, f"Customer.io answered {status}.")
    assert verdict(answer(status, b"oops")) == expected


@pytest.mark.parametrize("status", [200, 201])
def test_a_json_answer_is_a_success(status):
    assert verdict(answer(status, b'{"campaigns": []}'))[0] == ResponseAction.SUCCESS


@pytest.mark.parametrize(
    ("body", "headers", "described"),
    [
        (b"<html>", {"Content-Type": "text/html"}, "text/html, 6 bytes"),
        (b'{"campaigns": [', {"Content-Type": "application/json"}, "application/json, 15 bytes"),
        (b"", {}, "no content type, 0 bytes"),
    ],
)
def test_a_success_whose_body_is_not_json_is_retried(body, headers, described):
    assert verdict(answer(200, body, headers)) == (
        ResponseAction.RETRY,
        FailureType.transient_error,
        f"Customer.io answered /v1/campaigns with a body that is not JSON ({described}): a proxy error page "
        "or a cut-off answer.",
    )


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.ConnectionError,
        requests.exceptions.ReadTimeout,
        requests.exceptions.ChunkedEncodingError,
        requests.exceptions.SSLError,
        requests.exceptions.RetryError,
    ],
)
def test_any_network_error_is_retried_naming_it_and_the_endpoint(error):
    raised = error(request=requests.Request("GET", CAMPAIGNS).prepare())
    assert verdict(raised) == (
        ResponseAction.RETRY,
        FailureType.transient_error,
        f"{error.__name__} on /v1/campaigns; retrying.",
    )


def test_a_url_that_cannot_be_requested_gets_the_cdks_own_verdict():
    action, failure, message = verdict(requests.exceptions.InvalidSchema("no connection adapters"))
    assert (action, failure) == (ResponseAction.FAIL, FailureType.config_error)
    assert message.startswith("Invalid Protocol Schema")
    action, failure, message = verdict(requests.exceptions.InvalidURL("bad host"))
    assert message.startswith("Invalid URL specified")


# -- payload_of -----------------------------------------------------------------------------------------


def test_payload_of_an_answer_not_yet_interpreted_decodes_it():
    assert payload_of(answer(200, b'{"campaigns": [{"id": 1}]}')) == {"campaigns": [{"id": 1}]}
    assert payload_of(answer(403, b'{"errors": [{"detail": "no"}]}')) == {"errors": [{"detail": "no"}]}


def test_payload_of_a_body_that_is_not_json_is_none():
    assert payload_of(answer(502, b"<html>Bad gateway</html>")) is None


def test_an_exception_outside_requests_is_retried_with_an_error_log(caplog):
    # Not in the table: the CDK's own fallback, which logs through the handler's logger.
    with caplog.at_level(logging.ERROR, logger="test"):
        action, failure, _ = verdict(ValueError("the transport broke"))
    assert (action, failure) == (ResponseAction.RETRY, FailureType.system_error)
    assert any("the transport broke" in r.getMessage() for r in caplog.records if r.name == "test")
