"""What every stream inherits from CustomerioStream: the API's reason for a refusal, the probe request,
saved timestamps it can trust, and the warning when a saved page cursor has expired."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from source_customerio.config import CustomerioConfig
from source_customerio.http.budget import RequestBudget
from source_customerio.streams.base import StreamContext
from source_customerio.streams.catalog import TABLES, ListStream
from unit_tests.builders import US, newsletter, page, query

NOW = 1_734_000_000
DAY = 86_400


def newsletters(now: int = NOW) -> ListStream:
    context = StreamContext(CustomerioConfig(access_token="k" * 12), US, RequestBudget(0), now=now)
    [table] = [t for t in TABLES if t.name == "newsletters"]
    return ListStream(table, context)


# -- the API's reason for a 403, as the skip warning and `check` quote it ---------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"errors": [{"detail": "key lacks the newsletters scope"}]}, "key lacks the newsletters scope"),
        ({"meta": {"error": "not allowed here"}}, "not allowed here"),
        ({"errors": []}, "forbidden"),
        ({"errors": ["a bare string"]}, "forbidden"),
        ({"errors": [{"title": "Forbidden"}]}, "forbidden"),
        ({"meta": {}}, "forbidden"),
        ({"meta": {"error": ""}}, "forbidden"),
        ({}, "forbidden"),
        ([], "forbidden"),
    ],
)
def test_the_reason_of_a_403_is_the_apis_own_or_forbidden(body, reason, requests_mock):
    requests_mock.get(f"{US}/newsletters", status_code=403, json=body)
    assert newsletters().probe() == reason


def test_the_reason_of_a_403_whose_body_is_not_json_is_forbidden(requests_mock):
    requests_mock.get(f"{US}/newsletters", status_code=403, text="<html>Forbidden</html>")
    assert newsletters().probe() == "forbidden"


@pytest.mark.parametrize("status", [200, 404])
def test_a_probe_answered_200_or_404_means_readable(status, requests_mock):
    requests_mock.get(f"{US}/newsletters", status_code=status, json=page("newsletters", [newsletter(1)]))
    assert newsletters().probe() is None
    assert query(requests_mock.last_request) == {"limit": "1"}


class PostProbe(ListStream):
    """A stream whose cheapest request is a POST with a body (as a search is)."""

    def probe_target(self) -> tuple[str, str, dict[str, Any], dict[str, Any] | None]:
        return "POST", "customers", {"limit": 1}, {"filter": {"and": []}}


def test_the_probe_sends_the_method_path_parameters_and_body_its_stream_names(requests_mock):
    requests_mock.post(f"{US}/customers", status_code=403, json={"errors": [{"detail": "no people scope"}]})
    stream = newsletters()
    probe = PostProbe(stream.table, stream.context)
    assert probe.probe() == "no people scope"
    sent = requests_mock.last_request
    assert (sent.method, sent.path, query(sent)) == ("POST", "/v1/customers", {"limit": "1"})
    assert sent.json() == {"filter": {"and": []}}


# -- saved unix timestamps --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("saved", "value"),
    [
        (NOW - 365 * DAY, NOW - 365 * DAY),
        (NOW - 60, NOW - 60),  # a sync a minute ago
        (NOW, NOW),
        (NOW + DAY, NOW + DAY),  # a clock up to a day ahead is tolerated
        (str(NOW), NOW),
        (f"{NOW}.75", NOW),
    ],
)
def test_a_saved_timestamp_up_to_a_day_ahead_is_used(saved, value, caplog):
    stream = newsletters()
    stream.state = {"updated": saved}
    with caplog.at_level(logging.WARNING):
        assert stream.saved_timestamp("updated") == value
    assert caplog.records == []


def test_a_missing_saved_timestamp_is_none_without_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert newsletters().saved_timestamp("updated") is None
    assert caplog.records == []


@pytest.mark.parametrize(
    ("saved", "warning"),
    [
        (
            NOW + DAY + 1,
            f"Stream 'newsletters': saved state updated={NOW + DAY + 1} is in the future; "
            "ignoring it and reading from start_date.",
        ),
        (
            "yesterday",
            "Stream 'newsletters': saved state updated='yesterday' is not a unix timestamp; "
            "ignoring it and reading from start_date.",
        ),
        (
            [NOW],
            f"Stream 'newsletters': saved state updated=[{NOW}] is not a unix timestamp; "
            "ignoring it and reading from start_date.",
        ),
    ],
)
def test_an_unusable_saved_timestamp_is_ignored_with_a_warning(saved, warning, caplog):
    stream = newsletters()
    stream.state = {"updated": saved}
    with caplog.at_level(logging.WARNING):
        assert stream.saved_timestamp("updated") is None
    assert [r.getMessage() for r in caplog.records] == [warning]


# -- an expired page cursor -------------------------------------------------------------------------


def test_the_expired_cursor_warning_names_the_request_and_the_apis_reason(requests_mock, caplog):
    def answer(request, context):
        if query(request).get("start") == "old":
            context.status_code = 410
            return {"errors": [{"detail": "cursor old has expired"}]}
        return page("newsletters", [newsletter(1)])

    requests_mock.get(f"{US}/newsletters", json=answer)
    stream = newsletters()
    with caplog.at_level(logging.WARNING):
        start, payload = stream.resume_or_restart(
            "old", lambda start: stream.request("newsletters", {"start": start} if start else {})
        )
    assert start is None and payload == page("newsletters", [newsletter(1)])
    assert [r.getMessage() for r in caplog.records] == [
        "Stream 'newsletters': the API refused the page cursor saved by the last sync (GET /newsletters "
        "answered 410: cursor old has expired); it has probably expired. Reading from the first page "
        "again: records read before may arrive again, none are lost."
    ]
