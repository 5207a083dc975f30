"""Customers: search everyone 1,000 identifiers a page, hydrate 100 a request, resume per search page."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, TimeoutError

import pytest
from airbyte_cdk.models import AirbyteStreamStatus, FailureType, Level, Status

from source_customerio.http.error_table import MAX_RETRIES
from source_customerio.streams import customers
from unit_tests.builders import (
    US,
    ConfigBuilder,
    calls_to,
    check,
    connection_status,
    error_traces,
    identifier,
    log_lines,
    mock_api,
    person,
    query,
    read_stream,
    records_of,
    state,
    states_of,
)
from unit_tests.people_api import FakePeople
from unit_tests.people_api import people as fake_people

COMPLETE = {"__ab_full_refresh_sync_complete": True}


def search_pages(pages: dict[str | None, tuple[list[dict], str | None]]):
    """A search callback: `pages[start] = (identifiers, next)`; the first page has start None."""

    def answer(request, context):
        identifiers, following = pages[query(request).get("start")]
        body = {"identifiers": identifiers, "ids": [i.get("id") for i in identifiers]}
        if following is not None:
            body["next"] = following
        return body

    return answer


def hydrate(people_for=None):
    """A hydration callback: `people_for(cio_id)` gives the person (default: one with id and email)."""

    def answer(request, context):
        make = people_for or (
            lambda c: person(c, id=f"id-{c}", email=f"{c}@example.com", wrapped=int(c) % 2 == 0)
        )
        return {"customers": [p for p in (make(c) for c in request.json()["ids"]) if p is not None]}

    return answer


def mock_people(requests_mock, pages, people_for=None) -> None:
    requests_mock.post(f"{US}/customers", json=search_pages(pages))
    requests_mock.post(f"{US}/customers/attributes", json=hydrate(people_for))


def people(first: int, count: int) -> list[dict]:
    return [identifier(str(n), f"id-{n}", f"{n}@example.com") for n in range(first, first + count)]


def checkpoints(output) -> list[dict]:
    """The customers states in order, without the CDK's repeat of the final state."""
    states = states_of(output, "customers")
    return [s for n, s in enumerate(states) if n == 0 or s != states[n - 1]]


def read_customers(saved=None, method="search", expect_error=False):
    config = ConfigBuilder().with_(customers_method=method).build()
    saved_state = state("customers", saved) if saved else None
    return read_stream(config, "customers", state=saved_state, expect_error=expect_error)


def test_search_asks_1000_with_a_filter_matching_anyone(requests_mock):
    mock_people(requests_mock, {None: (people(1, 3), None)})
    read_customers()
    [search] = calls_to(requests_mock, "/v1/customers", "POST")
    assert query(search) == {"limit": "1000"}
    conditions = search.json()["filter"]["or"]
    assert {c["attribute"]["field"] for c in conditions} == {"cio_id", "id", "email"}
    assert all(c["attribute"]["operator"] == "exists" for c in conditions)


def test_every_person_is_hydrated_once_by_cio_id_at_most_100_a_request(requests_mock):
    mock_people(requests_mock, {None: (people(1, 250), "Tok2"), "Tok2": (people(251, 30), None)})
    output = read_customers()
    hydrations = calls_to(requests_mock, "/v1/customers/attributes", "POST")
    assert all(query(h) == {"id_type": "cio_id"} for h in hydrations)
    batches = [h.json()["ids"] for h in hydrations]
    assert all(len(b) <= 100 for b in batches)
    assert sorted(len(b) for b in batches) == [30, 50, 100, 100]
    hydrated = [cio_id for b in batches for cio_id in b]
    assert sorted(hydrated, key=int) == [str(n) for n in range(1, 281)]
    assert sorted((r["cio_id"] for r in records_of(output)), key=int) == [str(n) for n in range(1, 281)]
    searches = [query(s) for s in calls_to(requests_mock, "/v1/customers", "POST")]
    assert searches == [{"limit": "1000"}, {"limit": "1000", "start": "Tok2"}]


def test_wrapped_and_flat_people_become_the_same_flat_records(requests_mock):
    mock_people(requests_mock, {None: (people(1, 2), None)})
    records = sorted(records_of(read_customers()), key=lambda r: r["cio_id"])
    assert [(r["cio_id"], r["id"], r["email"]) for r in records] == [
        ("1", "id-1", "1@example.com"),
        ("2", "id-2", "2@example.com"),
    ]
    assert all("customer" not in r for r in records)
    assert records[0]["attributes"] == records[1]["attributes"] | {
        "cio_id": "1",
        "email": "1@example.com",
        "id": "id-1",
    }


@pytest.mark.parametrize("wrapped", [False, True])
def test_an_email_only_person_is_kept_with_a_null_id(wrapped, requests_mock):
    mock_people(
        requests_mock,
        {None: ([identifier("77", None, "solo@example.com")], None)},
        lambda c: person(int(c), id=None, email="solo@example.com", wrapped=wrapped),
    )
    [record] = records_of(read_customers())
    assert record["cio_id"] == "77"
    assert record.get("id") is None
    assert record["email"] == "solo@example.com"


def test_identifiers_come_from_attributes_when_the_person_has_no_identifiers(requests_mock):
    def bare(c):
        return {"customer": {"attributes": {"cio_id": int(c), "id": "p9", "email": "p9@example.com"}}}

    mock_people(requests_mock, {None: (people(9, 1), None)}, bare)
    [record] = records_of(read_customers())
    assert (record["cio_id"], record["id"], record["email"]) == ("9", "p9", "p9@example.com")


def test_a_person_without_cio_id_is_dropped(requests_mock):
    mock_people(
        requests_mock, {None: (people(1, 2), None)}, lambda c: person(c) if c == "1" else {"id": "nobody"}
    )
    assert [r["cio_id"] for r in records_of(read_customers())] == ["1"]


def test_identifiers_without_cio_id_are_not_hydrated(requests_mock):
    mock_people(requests_mock, {None: ([identifier("5"), {"id": "x", "email": None}, identifier("")], None)})
    read_customers()
    [hydration] = calls_to(requests_mock, "/v1/customers/attributes", "POST")
    assert hydration.json() == {"ids": ["5"]}


def test_state_after_each_search_page_then_complete(requests_mock):
    pages = {None: (people(1, 3), "Tok2"), "Tok2": (people(4, 3), "Tok3"), "Tok3": (people(7, 1), None)}
    mock_people(requests_mock, pages)
    output = read_customers()
    assert checkpoints(output) == [{"search_start": "Tok2"}, {"search_start": "Tok3"}, COMPLETE]
    assert len(records_of(output)) == 7


def test_a_page_with_a_next_but_no_people_is_followed_to_the_end(requests_mock):
    pages = {None: (people(1, 2), "Tok2"), "Tok2": ([], "Tok3"), "Tok3": (people(3, 1), None)}
    mock_people(requests_mock, pages)
    output = read_customers()
    assert sorted(r["cio_id"] for r in records_of(output)) == ["1", "2", "3"]
    assert states_of(output, "customers")[-1] == COMPLETE
    assert len(calls_to(requests_mock, "/v1/customers", "POST")) == 3


def test_a_read_with_state_resumes_at_the_saved_search_page(requests_mock):
    mock_people(requests_mock, {"tok2": (people(501, 2), None)})
    output = read_customers({"search_start": "tok2"})
    searches = calls_to(requests_mock, "/v1/customers", "POST")
    assert [query(s) for s in searches] == [{"limit": "1000", "start": "tok2"}]
    assert sorted(r["cio_id"] for r in records_of(output)) == ["501", "502"]
    assert states_of(output, "customers")[-1] == COMPLETE


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_a_saved_search_page_the_api_refuses_restarts_the_search_from_its_first_page(requests_mock, status):
    answers = search_pages({None: (people(1, 2), "tok2"), "tok2": (people(3, 1), None)})

    def search(request, context):
        if query(request).get("start") == "expired":
            context.status_code = status
            return {"errors": [{"detail": "invalid start cursor", "status": str(status)}]}
        return answers(request, context)

    requests_mock.post(f"{US}/customers", json=search)
    requests_mock.post(f"{US}/customers/attributes", json=hydrate())
    output = read_customers({"search_start": "expired"})
    starts = [query(s).get("start") for s in calls_to(requests_mock, "/v1/customers", "POST")]
    assert starts == ["expired", None, "tok2"]
    assert sorted(r["cio_id"] for r in records_of(output)) == ["1", "2", "3"]
    assert checkpoints(output) == [{"search_start": "tok2"}, COMPLETE]
    assert any("saved by the last sync" in line for line in log_lines(output, Level.WARN))


def test_an_empty_workspace_reads_nothing_and_completes(requests_mock):
    mock_people(requests_mock, {None: ([], None)})
    output = read_customers()
    assert records_of(output) == []
    assert calls_to(requests_mock, "/v1/customers/attributes") == []
    assert checkpoints(output) == [COMPLETE]


def test_a_403_on_search_skips_the_stream_and_completes(requests_mock):
    requests_mock.post(f"{US}/customers", status_code=403, json={"meta": {"error": "no people scope"}})
    output = read_customers()
    assert error_traces(output) == []
    assert records_of(output) == []
    assert states_of(output, "customers")[-1] == COMPLETE
    assert any("'customers' skipped" in line for line in log_lines(output, Level.WARN))


def test_auto_hydrates_a_workspace_that_fits_one_search_page(requests_mock):
    mock_people(requests_mock, {None: (people(1, 3), None)})
    output = read_customers(method="auto")
    assert len(records_of(output)) == 3
    assert len(calls_to(requests_mock, "/v1/customers", "POST")) == 1
    assert calls_to(requests_mock, "/v1/exports/customers") == []


def test_auto_switches_to_an_export_when_there_is_a_second_search_page(requests_mock):
    FakePeople(fake_people(5), page_size=3).mock(requests_mock)
    output = read_customers(method="auto")
    assert [r["cio_id"] for r in records_of(output)] == ["1", "2", "3", "4", "5"]
    assert len(calls_to(requests_mock, "/v1/customers", "POST")) == 1
    # One hydration: the export's cross-check, not the people.
    assert len(calls_to(requests_mock, "/v1/customers/attributes")) == 1
    assert checkpoints(output)[-1] == COMPLETE


# -- failures part-way: the stream fails, keeps what it emitted and the state to resume from ----------

A_WHILE = 60  # seconds: a read that has not ended by then is stuck (the pipeline's threads hang)


def read_customers_to_the_end(**kwargs):
    """read_customers, failing the test if the read does not end (a stuck search pipeline)."""
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(read_customers, **kwargs).result(timeout=A_WHILE)
    except TimeoutError:
        pytest.fail("the read did not end: the search pipeline is stuck")
    finally:
        pool.shutdown(wait=False)


def hydrate_unless(failing_ids, **failure):
    """A hydration callback that answers `failure` (status, body) for a batch holding any of `failing_ids`."""
    ok = hydrate()

    def answer(request, context):
        if set(request.json()["ids"]) & set(failing_ids):
            context.status_code = failure.get("status", 500)
            return failure.get("body", {})
        return ok(request, context)

    return answer


TWO_PAGES = {None: (people(1, 3), "Tok2"), "Tok2": (people(4, 2), None)}


def test_hydration_failing_after_every_retry_fails_the_stream_without_completing(requests_mock):
    requests_mock.post(f"{US}/customers", json=search_pages({None: (people(1, 3), None)}))
    requests_mock.post(f"{US}/customers/attributes", status_code=500)
    output = read_customers_to_the_end(expect_error=True)
    assert records_of(output) == []
    assert COMPLETE not in states_of(output, "customers")
    assert len(calls_to(requests_mock, "/v1/customers/attributes")) == MAX_RETRIES + 1
    errors = [e for e in error_traces(output) if e.failure_type == FailureType.transient_error]
    assert errors and "'customers'" in errors[0].message
    assert "POST /customers/attributes" in errors[0].message
    assert output.get_stream_statuses("customers")[-1] == AirbyteStreamStatus.INCOMPLETE


def test_hydration_failing_on_a_later_page_keeps_the_pages_before_it_and_their_state(requests_mock):
    requests_mock.post(f"{US}/customers", json=search_pages(TWO_PAGES))
    requests_mock.post(f"{US}/customers/attributes", json=hydrate_unless({"4"}))
    output = read_customers_to_the_end(expect_error=True)
    assert sorted(r["cio_id"] for r in records_of(output)) == ["1", "2", "3"]
    assert checkpoints(output) == [{"search_start": "Tok2"}]
    errors = error_traces(output)
    assert errors and "'customers'" in errors[0].message
    assert "POST /customers/attributes" in errors[0].message


@pytest.mark.parametrize(
    ("answer", "failure_type"),
    [({"status_code": 500}, FailureType.transient_error), ({"status_code": 400}, None)],
    ids=["500-until-retries-run-out", "400-refused"],
)
def test_a_search_page_failing_ends_the_stream_with_an_error_after_the_pages_before_it(
    answer, failure_type, requests_mock
):
    """The search chain runs on its own thread, ahead of the reader: its failure reaches the read,
    after the people of the pages before it, whose state is kept."""
    first_page = search_pages({None: TWO_PAGES[None]})

    def search(request, context):
        if query(request).get("start") == "Tok2":
            context.status_code = answer["status_code"]
            return {"errors": [{"detail": "search failed"}]}
        return first_page(request, context)

    requests_mock.post(f"{US}/customers", json=search)
    requests_mock.post(f"{US}/customers/attributes", json=hydrate())
    output = read_customers_to_the_end(expect_error=True)
    assert sorted(r["cio_id"] for r in records_of(output)) == ["1", "2", "3"]
    assert checkpoints(output) == [{"search_start": "Tok2"}]
    errors = [e for e in error_traces(output) if e.stream_descriptor and e.stream_descriptor.name]
    assert errors and errors[0].stream_descriptor.name == "customers"
    assert "'customers'" in errors[0].message and "POST /customers" in errors[0].message
    if failure_type is not None:
        assert errors[0].failure_type == failure_type


def test_a_403_on_a_later_hydration_fails_the_stream_rather_than_skipping_it(requests_mock):
    requests_mock.post(f"{US}/customers", json=search_pages(TWO_PAGES))
    forbidden = {"status": 403, "body": {"meta": {"error": "no attributes scope"}}}
    requests_mock.post(f"{US}/customers/attributes", json=hydrate_unless({"4"}, **forbidden))
    output = read_customers_to_the_end(expect_error=True)
    assert sorted(r["cio_id"] for r in records_of(output)) == ["1", "2", "3"]
    assert checkpoints(output) == [{"search_start": "Tok2"}], "not complete: the next sync resumes at page 2"
    [error] = error_traces(output)[:1]
    assert error.failure_type == FailureType.config_error
    for words in ("'customers'", "403", "no attributes scope"):
        assert words in error.message, (words, error.message)
    assert not any("skipped" in line for line in log_lines(output, Level.WARN))


# -- hydration that comes back short ------------------------------------------------------------


def test_people_left_out_once_are_asked_for_again(requests_mock):
    FakePeople(fake_people(250), omit_once=7).mock(requests_mock)
    output = read_customers()
    assert sorted((r["cio_id"] for r in records_of(output)), key=int) == [str(n) for n in range(1, 251)]
    batches = [c.json()["ids"] for c in calls_to(requests_mock, "/v1/customers/attributes")]
    assert sorted(len(b) for b in batches) == [7, 7, 7, 50, 100, 100]  # each short batch, once more
    assert not log_lines(output, Level.WARN)


def test_people_still_missing_are_counted_in_one_warning_at_the_end(requests_mock):
    FakePeople(fake_people(250), page_size=100, deleted={"17", "130", "131"}).mock(requests_mock)
    output = read_customers()
    got = sorted((r["cio_id"] for r in records_of(output)), key=int)
    assert got == [str(n) for n in range(1, 251) if n not in (17, 130, 131)]
    [warning] = log_lines(output, Level.WARN)
    assert "3 of the 250 people the search found were not returned" in warning
    assert "17, 130, 131" in warning
    messages = list(output.get_message_iterator())
    last_record = max(n for n, m in enumerate(messages) if m.record is not None)
    warned = next(n for n, m in enumerate(messages) if m.log is not None and m.log.message == warning)
    assert warned > last_record, "one warning, at the end of the stream"


def test_no_one_hydrated_at_all_is_an_error(requests_mock):
    FakePeople(fake_people(5), deleted={"1", "2", "3", "4", "5"}).mock(requests_mock)
    config = ConfigBuilder().with_(customers_method="search").build()
    output = read_stream(config, "customers", expect_error=True)
    assert any("No one the search found could be hydrated" in e.message for e in error_traces(output))


# -- a search filter naming cio_id refused --------------------------------------------------------


def test_a_refused_search_filter_is_replaced_once_and_remembered_in_state(requests_mock):
    FakePeople(fake_people(7), page_size=3, refuse_cio_id=True).mock(requests_mock)
    output = read_customers()
    assert sorted((r["cio_id"] for r in records_of(output)), key=int) == [str(n) for n in range(1, 8)]
    filters = [c.json()["filter"] for c in calls_to(requests_mock, "/v1/customers", "POST")]
    assert filters == [customers.EVERYONE] + [customers.ID_OR_EMAIL] * 3
    assert checkpoints(output)[:2] == [
        {"search_start": "3", "search_filter": "id_or_email"},
        {"search_start": "6", "search_filter": "id_or_email"},
    ]
    assert len([w for w in log_lines(output, Level.WARN) if "refused the filter" in w]) == 1


def test_a_resumed_search_keeps_the_filter_its_token_came_from(requests_mock):
    FakePeople(fake_people(7), page_size=3, refuse_cio_id=True).mock(requests_mock)
    output = read_customers({"search_start": "6", "search_filter": "id_or_email"})
    assert [c.json()["filter"] for c in calls_to(requests_mock, "/v1/customers", "POST")] == [
        customers.ID_OR_EMAIL
    ]
    assert [r["cio_id"] for r in records_of(output)] == ["7"]
    assert not log_lines(output, Level.WARN)


def test_a_filter_refused_for_another_reason_is_an_error_naming_it(requests_mock):
    requests_mock.post(
        f"{US}/customers",
        status_code=400,
        json={"errors": [{"detail": "filter too complex", "status": "400"}]},
    )
    config = ConfigBuilder().with_(customers_method="search").build()
    output = read_stream(config, "customers", expect_error=True)
    [error, *_] = error_traces(output)
    assert "POST /customers was refused (400: filter too complex)" in error.message
    assert len(calls_to(requests_mock, "/v1/customers", "POST")) == 2  # EVERYONE, then ID_OR_EMAIL


def test_check_reads_customers_when_the_filter_naming_cio_id_is_refused(requests_mock):
    mock_api(requests_mock)
    FakePeople(fake_people(3), refuse_cio_id=True).mock(requests_mock)
    status = connection_status(check(ConfigBuilder().build()))
    assert status.status == Status.SUCCEEDED
    assert "may read all 27 streams" in status.message
    filters = [c.json()["filter"] for c in calls_to(requests_mock, "/v1/customers", "POST")]
    assert filters == [customers.EVERYONE, customers.ID_OR_EMAIL]


@pytest.mark.parametrize("search_filter", [{"or": []}, "cio_only", 7])
def test_a_saved_search_filter_that_is_not_one_of_ours_starts_again(search_filter, requests_mock):
    FakePeople(fake_people(4), page_size=3).mock(requests_mock)
    output = read_customers({"search_start": "3", "search_filter": search_filter})
    assert sorted((r["cio_id"] for r in records_of(output)), key=int) == ["1", "2", "3", "4"]
    assert any("is unusable; reading all people again" in w for w in log_lines(output, Level.WARN))
