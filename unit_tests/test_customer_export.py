"""Customers through the asynchronous export: start, poll, download a signed file without the key, check it
against the export's total and against hydration before emitting anyone, resume, and fall back to search."""

from __future__ import annotations

import io

import pytest
from airbyte_cdk.models import FailureType, Level

from source_customerio.streams import customers
from unit_tests.builders import (
    US,
    ConfigBuilder,
    calls_to,
    error_traces,
    log_lines,
    query,
    read_stream,
    records_of,
    state,
    states_of,
)
from unit_tests.people_api import EXPORT_ID, LINK, FakePeople, people


def exists(field: str) -> dict:
    return {"attribute": {"field": field, "operator": "exists"}}


COMPLETE = {"__ab_full_refresh_sync_complete": True}
SIGNATURE = LINK.split("?")[1]
DOWNLOAD = f"/exports/{EXPORT_ID}.csv"
EVERYONE = people(6)


def read_export(saved=None, expect_error=False, method="exports", **settings):
    config = ConfigBuilder().with_(customers_method=method, **settings).build()
    stream_state = state("customers", saved) if saved else None
    output = read_stream(config, "customers", state=stream_state, expect_error=expect_error)
    assert SIGNATURE not in "\n".join(log_lines(output)), "the signed link's query was logged"
    return output


def cio_ids(output) -> list[str]:
    return [r["cio_id"] for r in records_of(output)]


def warnings(output) -> list[str]:
    return log_lines(output, Level.WARN)


# -- the export's life --------------------------------------------------------------------------


def test_an_export_is_started_polled_and_downloaded(requests_mock, export_sleeps):
    FakePeople(EVERYONE, statuses=("pending", "running", "done")).mock(requests_mock)
    output = read_export()
    [start] = calls_to(requests_mock, "/v1/exports/customers", "POST")
    assert start.json() == {"filters": customers.EVERYONE}
    assert len(calls_to(requests_mock, f"/v1/exports/{EXPORT_ID}")) == 3
    assert export_sleeps.calls == [1.0, 2.0]
    assert cio_ids(output) == ["1", "2", "3", "4", "5", "6"]
    assert states_of(output, "customers")[-1] == COMPLETE


def test_the_signed_download_is_fetched_without_the_api_key(requests_mock):
    FakePeople(EVERYONE).mock(requests_mock)
    read_export()
    [download] = calls_to(requests_mock, DOWNLOAD)
    assert "Authorization" not in download.headers
    assert all(
        r.headers.get("Authorization")
        for r in requests_mock.request_history
        if r.hostname == "api.customer.io"
    )


def test_rows_become_person_records_with_quoted_json_and_without_empty_cells(requests_mock):
    FakePeople(EVERYONE).mock(requests_mock)
    records = {r["cio_id"]: r for r in records_of(read_export())}
    third, fourth = records["3"], records["4"]
    assert third["identifiers"] == {"cio_id": "3", "id": "p3", "email": "3@example.com"}
    assert third["attributes"] == {
        "cio_id": "3",
        "id": "p3",
        "email": "3@example.com",
        "created_at": "1700000003",
        "plan": "pro",
        "cio_subscription_preferences": '{"topics":{"topic_1":true}}',
    }
    assert (fourth.get("id"), fourth["email"]) == (None, "4@example.com")
    assert "plan" not in fourth["attributes"] and "id" not in fourth["attributes"]


@pytest.mark.parametrize(
    "variant",
    [
        {"compression": "gzip"},
        {"compression": "gzip_no_header", "bom": True},
        {"bom": True},
        {"link_key": "link"},
        {
            "columns": [
                "plan",
                "email",
                "created_at",
                "cio_id",
                "segment_ids",
                "id",
                "cio_subscription_preferences",
            ]
        },
    ],
    ids=["gzip", "gzip-without-header-with-bom", "bom", "link", "shuffled-with-extra-column"],
)
def test_every_file_variant_reads_the_same_people(variant, requests_mock):
    FakePeople(EVERYONE, **variant).mock(requests_mock)
    records = records_of(read_export())
    assert [r["cio_id"] for r in records] == ["1", "2", "3", "4", "5", "6"]
    assert all(r["attributes"]["created_at"] == f"17000000{r['cio_id'].zfill(2)}" for r in records)
    assert records[0]["email"] == "1@example.com"


def test_state_every_slice_of_rows_then_complete(requests_mock, monkeypatch):
    monkeypatch.setattr(customers, "EXPORT_ROWS_PER_SLICE", 2)
    FakePeople(people(5)).mock(requests_mock)
    output = read_export()
    assert cio_ids(output) == ["1", "2", "3", "4", "5"]
    states = states_of(output, "customers")
    assert states[:3] == [{"export_id": 5, "rows_done": 2}, {"export_id": 5, "rows_done": 4}, COMPLETE]
    assert len(calls_to(requests_mock, DOWNLOAD)) == 1  # one download, read across slices


def test_a_read_with_export_state_resumes_the_same_export_after_the_rows_done(requests_mock):
    FakePeople(EVERYONE).mock(requests_mock)
    output = read_export(saved={"export_id": EXPORT_ID, "rows_done": 4})
    assert calls_to(requests_mock, "/v1/exports/customers") == []
    assert cio_ids(output) == ["5", "6"]


def test_a_vanished_export_is_started_again(requests_mock):
    FakePeople(EVERYONE).mock(requests_mock)
    requests_mock.get(f"{US}/exports/4", status_code=404)
    output = read_export(saved={"export_id": 4, "rows_done": 1})
    assert len(calls_to(requests_mock, "/v1/exports/customers", "POST")) == 1
    assert cio_ids(output) == ["1", "2", "3", "4", "5", "6"]
    assert any("export 4 is gone" in line for line in warnings(output))


def test_a_failed_export_is_a_transient_error_suggesting_search(requests_mock):
    FakePeople(EVERYONE, statuses=("pending", "failed")).mock(requests_mock)
    output = read_export(expect_error=True)
    errors = [e for e in error_traces(output) if e.failure_type == FailureType.transient_error]
    assert errors and "export 5 failed" in errors[0].message and "'search'" in errors[0].message


def test_an_export_not_ready_in_time_is_a_transient_error(requests_mock, export_sleeps):
    FakePeople(EVERYONE, statuses=("pending",)).mock(requests_mock)
    output = read_export(expect_error=True, export_timeout_minutes=1)
    errors = [e for e in error_traces(output) if e.failure_type == FailureType.transient_error]
    assert errors and "not ready after" in errors[0].message and "export_timeout_minutes" in errors[0].message
    assert export_sleeps.calls == [1, 2, 4, 8, 16, 30]


def test_a_download_error_fetches_a_fresh_link_and_goes_on(requests_mock):
    fake = FakePeople(EVERYONE)
    fake.mock(requests_mock, downloads=[{"status_code": 503}, fake.download()])
    output = read_export()
    assert cio_ids(output) == ["1", "2", "3", "4", "5", "6"]
    assert len(calls_to(requests_mock, f"/v1/exports/{EXPORT_ID}/download")) == 2
    broke = [line for line in warnings(output) if "download of export 5" in line]
    assert broke and "https://files.example.com/" in broke[0]


class CutOff(io.RawIOBase):
    """A body that breaks after `cut` bytes, the way a reset connection does."""

    def __init__(self, data: bytes, cut: int) -> None:
        self.data, self.cut, self.position = data, cut, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.position >= self.cut:
            raise ConnectionResetError("connection reset by peer")
        size = min(len(buffer), self.cut - self.position)
        buffer[:size] = self.data[self.position : self.position + size]
        self.position += size
        return size


def test_a_download_cut_mid_way_is_fetched_again_without_duplicates(requests_mock):
    fake = FakePeople(EVERYONE)
    data = fake.csv_bytes()
    broken = {"body": io.BufferedReader(CutOff(data, len(data) // 2), buffer_size=8)}
    fake.mock(requests_mock, downloads=[broken, fake.download()])
    output = read_export()
    assert cio_ids(output) == ["1", "2", "3", "4", "5", "6"]
    assert len(calls_to(requests_mock, DOWNLOAD)) == 2


def test_a_download_that_keeps_failing_is_a_transient_error(requests_mock, export_sleeps):
    FakePeople(EVERYONE).mock(requests_mock, downloads=[{"status_code": 500}])
    output = read_export(expect_error=True)
    errors = [e for e in error_traces(output) if e.failure_type == FailureType.transient_error]
    assert errors and "Could not download customer export 5 after 5 attempts" in errors[0].message
    assert len(calls_to(requests_mock, DOWNLOAD)) == 5


def test_no_download_link_is_a_transient_error_naming_the_keys(requests_mock):
    FakePeople(EVERYONE).mock(requests_mock)
    requests_mock.get(f"{US}/exports/{EXPORT_ID}/download", json={"href": "x"})
    output = read_export(expect_error=True)
    assert any("no download link" in e.message and "['href']" in e.message for e in error_traces(output))


@pytest.mark.parametrize("answer", [{"json": {}}, {"json": {"export": {"status": "pending"}}}])
def test_an_export_without_an_id_is_a_transient_error(answer, requests_mock):
    requests_mock.post(f"{US}/exports/customers", **answer)
    output = read_export(expect_error=True)
    assert any("did not return an export id" in e.message for e in error_traces(output))


# -- checked before the first record ------------------------------------------------------------


def test_the_cross_check_hydrates_one_sampled_batch_by_cio_id(requests_mock):
    FakePeople(EVERYONE).mock(requests_mock)
    read_export()
    [check] = calls_to(requests_mock, "/v1/customers/attributes", "POST")
    assert query(check) == {"id_type": "cio_id"} and check.json() == {"ids": ["1", "2", "3", "4", "5", "6"]}


MISMATCHES = {
    "rows-short-of-total": ({"drop_rows": 2}, "the file has 4 data rows but the export's total is 6"),
    "attributes-missing": (
        {"columns": ["cio_id", "id", "email"]},
        "the file has no column for attributes hydration returns for the same people: "
        "cio_subscription_preferences (2 people), created_at (6 people), plan (3 people)",
    ),
    "values-differ": (
        {"file_people": [{**p, "attributes": {**p["attributes"], "plan": "free"}} for p in EVERYONE]},
        "the file's values differ from hydration's for attributes set before the export: plan (3 people)",
    ),
}


@pytest.mark.parametrize("case", MISMATCHES, ids=list(MISMATCHES))
def test_auto_reads_by_search_when_the_export_does_not_check_out(case, requests_mock):
    quirk, problem = MISMATCHES[case]
    FakePeople(EVERYONE, page_size=4, **quirk).mock(requests_mock)
    output = read_export(method="auto")
    assert sorted(cio_ids(output), key=int) == ["1", "2", "3", "4", "5", "6"], "each person once"
    [warning] = [w for w in warnings(output) if "does not check out" in w]
    assert problem in warning and "nothing of it was emitted" in warning
    assert states_of(output, "customers")[-1] == COMPLETE


@pytest.mark.parametrize("case", MISMATCHES, ids=list(MISMATCHES))
def test_exports_fails_when_the_export_does_not_check_out(case, requests_mock):
    quirk, problem = MISMATCHES[case]
    FakePeople(EVERYONE, **quirk).mock(requests_mock)
    output = read_export(expect_error=True)
    assert records_of(output) == []
    error = error_traces(output)[0]
    assert error.failure_type == FailureType.config_error
    assert problem in error.message and "export 5: " in error.message and "customers_method" in error.message


def test_an_attribute_changed_after_the_export_is_not_a_mismatch(requests_mock):
    FakePeople(EVERYONE, changed={"1": {"plan": "enterprise"}, "2": {"nickname": "Bo"}}).mock(requests_mock)
    output = read_export()
    assert cio_ids(output) == ["1", "2", "3", "4", "5", "6"]
    assert records_of(output)[0]["attributes"]["plan"] == "pro"  # as the file has it


def test_rows_without_a_cio_id_are_keyed_by_hydration_and_the_deleted_left_out(requests_mock):
    blank = [{**p, "cio_id": ""} for p in EVERYONE[:2]]  # p1 has an id, p2 has one too
    fake = FakePeople(EVERYONE, file_people=[*blank, *EVERYONE[2:]], deleted={"2"})
    fake.total = 6
    fake.mock(requests_mock)
    output = read_export()
    assert cio_ids(output) == ["1", "3", "4", "5", "6"]
    by_id = [c for c in calls_to(requests_mock, "/v1/customers/attributes") if query(c)["id_type"] == "id"]
    assert [c.json()["ids"] for c in by_id] == [["p1", "p2"], ["p2"]]  # asked once more for the missing one
    assert any("1 people of export 5 are not known" in w for w in warnings(output))


# -- a file without a cio_id column ---------------------------------------------------------------


def test_a_file_without_cio_id_is_joined_to_an_identifiers_search(requests_mock):
    everyone = people(40)
    FakePeople(everyone, page_size=7, cio_id_column=False).mock(requests_mock)
    output = read_export()
    records = records_of(output)
    assert [r["cio_id"] for r in records] == [str(n) for n in range(1, 41)]
    assert all(r["attributes"]["cio_id"] == r["cio_id"] for r in records)
    assert records[3]["email"] == "4@example.com" and records[3].get("id") is None  # joined by email
    searches = [c.json()["filter"]["and"] for c in calls_to(requests_mock, "/v1/customers", "POST")]
    assert all(parts[0] == customers.EVERYONE for parts in searches)
    # Split on the two attributes nearest to half the people (plan 1/2, preferences 1/3): four searches.
    halves = {tuple(sorted(str(part) for part in parts[1:])) for parts in searches}
    plan, prefs = exists("plan"), exists("cio_subscription_preferences")
    assert halves == {
        tuple(sorted(str(p) for p in pair))
        for pair in [
            (plan, prefs),
            (plan, {"not": prefs}),
            ({"not": plan}, prefs),
            ({"not": plan}, {"not": prefs}),
        ]
    }
    assert calls_to(requests_mock, "/v1/customers/attributes")[0].json()["ids"][0] == "p1"


def test_a_refused_split_search_is_made_in_one_chain(requests_mock):
    fake = FakePeople(people(10), page_size=4, cio_id_column=False).mock(requests_mock)
    plain = fake.search

    def refuse_split(request, context):
        if "and" in request.json()["filter"]:
            context.status_code = 400
            return {"errors": [{"detail": "and is not supported"}]}
        return plain(request, context)

    requests_mock.post(f"{US}/customers", json=refuse_split)
    output = read_export()
    assert cio_ids(output) == [str(n) for n in range(1, 11)]
    assert not any("refused the filter" in w for w in warnings(output))


# -- a filter naming cio_id refused ---------------------------------------------------------------


def test_a_refused_export_filter_is_sent_again_without_cio_id_with_one_warning(requests_mock):
    FakePeople(EVERYONE, refuse_cio_id=True).mock(requests_mock)
    output = read_export()
    starts = [c.json()["filters"] for c in calls_to(requests_mock, "/v1/exports/customers", "POST")]
    assert starts == [customers.EVERYONE, customers.ID_OR_EMAIL]
    assert cio_ids(output) == ["1", "2", "3", "4", "5", "6"]
    assert len([w for w in warnings(output) if "refused the filter" in w]) == 1


def test_auto_with_refused_filters_warns_once_for_search_and_export(requests_mock):
    FakePeople(people(10), page_size=4, refuse_cio_id=True, cio_id_column=False).mock(requests_mock)
    output = read_export(method="auto")
    assert cio_ids(output) == [str(n) for n in range(1, 11)]
    [warning] = [w for w in warnings(output) if "refused the filter" in w]
    assert "id exists or email exists" in warning
