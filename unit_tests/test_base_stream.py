"""What every stream inherits from CustomerioStream: the API's reason for a refusal, the probe request,
saved timestamps it can trust, and the warning when a saved page cursor has expired."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from airbyte_cdk.models import FailureType, Level, SyncMode
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_customerio.config import CustomerioConfig
from source_customerio.http import pagination
from source_customerio.http.budget import RequestBudget
from source_customerio.http.pagination import CursorPagination, EndlessPagingError
from source_customerio.streams.base import StreamContext
from source_customerio.streams.catalog import TABLES, ListStream
from unit_tests.builders import (
    US,
    ConfigBuilder,
    error_traces,
    log_lines,
    newsletter,
    page,
    query,
    read_stream,
    state,
)

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


def refusing_cursor(cursor: str, status: int, body: dict, record: dict) -> Callable[[Any, Any], dict]:
    """A newsletters listing that answers `status` with `body` to the saved cursor `cursor`, and one
    page holding `record` to anything else (the first page)."""

    def answer(request: Any, context: Any) -> dict:
        if query(request).get("start") == cursor:
            context.status_code = status
            return body
        return page("newsletters", [record])

    return answer


def test_the_expired_cursor_warning_names_the_request_and_the_apis_reason(requests_mock, caplog):
    answer = refusing_cursor("old", 410, {"errors": [{"detail": "cursor old has expired"}]}, newsletter(1))
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


def test_a_sync_warns_once_with_the_request_when_the_saved_cursor_expired(requests_mock):
    refused = {"errors": [{"detail": "cursor expired-tok is not valid"}]}
    answer = refusing_cursor("expired-tok", 400, refused, newsletter(1, NOW + 1))
    requests_mock.get(f"{US}/newsletters", json=answer)
    saved = state("newsletters", {"updated": NOW, "resume": {"start": "expired-tok", "highest": NOW}})
    config = ConfigBuilder().with_(lookback_window_minutes=0).build()
    output = read_stream(config, "newsletters", SyncMode.incremental, state=saved)
    assert log_lines(output, Level.WARN) == [
        "Stream 'newsletters': the API refused the page cursor saved by the last sync (GET /newsletters "
        "answered 400: cursor expired-tok is not valid); it has probably expired. Reading from the first "
        "page again: records read before may arrive again, none are lost."
    ]


def test_a_403_after_records_were_read_says_how_many_and_what_to_do(requests_mock):
    requests_mock.get(
        f"{US}/newsletters", json=page("newsletters", [newsletter(1), newsletter(2)], next="p2")
    )
    requests_mock.get(
        f"{US}/newsletters?start=p2", status_code=403, json={"errors": [{"detail": "scope withdrawn"}]}
    )
    output = read_stream(ConfigBuilder().build(), "newsletters", expect_error=True)
    [error] = [e for e in error_traces(output) if e.stream_descriptor]
    assert error.message == (
        "Stream 'newsletters': the App API key was refused GET /newsletters (403: scope withdrawn) after 2 "
        "records had been read, so the table is incomplete. Give the key access to this endpoint and sync "
        "again, or deselect the stream."
    )


# -- pages(), directly --------------------------------------------------------------------------------


def test_pages_sends_the_method_and_body_with_every_page(requests_mock):
    requests_mock.post(
        f"{US}/customers",
        [
            {"json": {"identifiers": [{"cio_id": "a"}], "next": "n2"}},
            {"json": {"identifiers": [{"cio_id": "b"}], "next": ""}},
        ],
    )
    body = {"filter": {"and": [{"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}]}}
    pages = list(
        newsletters().pages("customers", CursorPagination(2), "identifiers", json=body, method="POST")
    )
    assert pages == [[{"cio_id": "a"}], [{"cio_id": "b"}]]
    sent = requests_mock.request_history
    assert [(r.method, query(r)) for r in sent] == [
        ("POST", {"limit": "2"}),
        ("POST", {"limit": "2", "start": "n2"}),
    ]
    assert [r.json() for r in sent] == [body, body]


@pytest.mark.parametrize(
    "odd_answer",
    [{}, {"newsletters": None}, {"newsletters": {"1": newsletter(1)}}, [newsletter(1)], "text"],
    ids=["empty object", "null list", "object for a list", "bare list", "string"],
)
def test_answers_without_a_list_under_the_records_key_are_empty_pages_and_counted(odd_answer, requests_mock):
    requests_mock.get(
        f"{US}/newsletters",
        [
            {"json": page("newsletters", [newsletter(1)], next="p2")},
            {"json": odd_answer},
        ],
    )
    stream = newsletters()
    paginator = CursorPagination(10)
    assert list(stream.pages("newsletters", paginator, "newsletters")) == [[newsletter(1)], []]
    assert (stream.answers_without_records, paginator.answers_without_records) == (1, 1)
    # A second walk of the same stream adds to the stream's count; each walk keeps its own.
    requests_mock.get(f"{US}/newsletters", [{"json": {"next": "p2"}}, {"json": {}}])
    again = CursorPagination(10)
    assert list(stream.pages("newsletters", again, "newsletters")) == [[], []]
    assert (stream.answers_without_records, again.answers_without_records) == (3, 2)


def test_an_endless_walk_fails_with_the_stream_and_request_named(requests_mock, monkeypatch):
    monkeypatch.setattr(pagination, "MAX_EMPTY_PAGES_IN_A_ROW", 2)
    served = iter(range(10))
    requests_mock.get(f"{US}/newsletters", json=lambda r, c: page("newsletters", [], next=f"t{next(served)}"))
    with pytest.raises(AirbyteTracedException) as raised:
        list(newsletters().pages("newsletters", CursorPagination(10), "newsletters"))
    endless = EndlessPagingError(2).message
    assert raised.value.message == f"Stream 'newsletters': GET /newsletters: {endless}"
    assert raised.value.internal_message == endless
    assert raised.value.failure_type == FailureType.system_error


def test_a_saved_cursor_answered_404_without_a_reason_restarts_with_not_found(requests_mock, caplog):
    requests_mock.get(f"{US}/newsletters", json=refusing_cursor("old", 404, {}, newsletter(1)))
    stream = newsletters()
    with caplog.at_level(logging.WARNING):
        start, _ = stream.resume_or_restart(
            "old", lambda start: stream.request("newsletters", {"start": start} if start else {})
        )
    assert start is None
    assert [r.getMessage() for r in caplog.records] == [
        "Stream 'newsletters': the API refused the page cursor saved by the last sync (GET /newsletters "
        "answered 404: not found); it has probably expired. Reading from the first page again: records "
        "read before may arrive again, none are lost."
    ]


def test_a_404_on_a_list_that_must_exist_says_the_endpoint_may_not_exist(requests_mock):
    requests_mock.get(f"{US}/newsletters", status_code=404, json={"errors": [{"detail": "no route"}]})
    output = read_stream(ConfigBuilder().build(), "newsletters", expect_error=True)
    [error] = [e for e in error_traces(output) if e.stream_descriptor]
    assert error.message == (
        "Stream 'newsletters': GET /v1/newsletters answered 404 (not found): the endpoint may not exist in "
        "this region or API version."
    )
    assert error.failure_type == FailureType.transient_error


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [(409, {}, "409: refused"), (422, {"meta": {"error": "bad filter"}}, "422: bad filter")],
)
def test_a_refused_request_names_the_status_and_the_apis_reason_or_refused(status, body, said, requests_mock):
    requests_mock.get(f"{US}/newsletters", status_code=status, json=body)
    output = read_stream(ConfigBuilder().build(), "newsletters", expect_error=True)
    [error] = [e for e in error_traces(output) if e.stream_descriptor]
    assert error.message == f"Stream 'newsletters': GET /newsletters was refused ({said})."
    assert error.failure_type == FailureType.system_error
