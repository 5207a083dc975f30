"""Customers through the asynchronous export: start, poll, download a signed CSV without the key, resume."""

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
    read_stream,
    records_of,
    state,
    states_of,
)

COMPLETE = {"__ab_full_refresh_sync_complete": True}
SIGNATURE = "X-Amz-Signature=0123456789abcdef"
LINK = f"https://files.example.com/exports/5.csv?{SIGNATURE}"
CSV = "cio_id,id,email,plan\n1,p1,one@example.com,pro\n2,,two@example.com,\n,p3,three@example.com,free\n"
ROWS = [("1", "p1", "one@example.com"), ("2", None, "two@example.com")]


def mock_export(requests_mock, csv=CSV, statuses=("done",), downloads=None, export_id=5) -> None:
    requests_mock.post(f"{US}/exports/customers", json={"export": {"id": export_id}})
    requests_mock.get(
        f"{US}/exports/{export_id}",
        [{"json": {"export": {"id": export_id, "status": s, "total": 2}}} for s in statuses],
    )
    requests_mock.get(f"{US}/exports/{export_id}/download", json={"url": LINK})
    requests_mock.get(LINK.split("?")[0], downloads or [{"text": csv}])


def read_export(saved=None, expect_error=False, **settings):
    config = ConfigBuilder().with_(customers_method="exports", **settings).build()
    stream_state = state("customers", saved) if saved else None
    output = read_stream(config, "customers", state=stream_state, expect_error=expect_error)
    assert SIGNATURE not in "\n".join(log_lines(output)), "the signed link's query was logged"
    return output


def people(output) -> list[tuple]:
    return [(r["cio_id"], r.get("id"), r["email"]) for r in records_of(output)]


def test_an_export_is_started_polled_and_downloaded(requests_mock, export_sleeps):
    mock_export(requests_mock, statuses=("pending", "running", "done"))
    output = read_export()
    [start] = calls_to(requests_mock, "/v1/exports/customers", "POST")
    assert start.json() == {"filters": customers.EVERYONE}
    assert len(calls_to(requests_mock, "/v1/exports/5")) == 3
    assert export_sleeps.calls == [1.0, 2.0]
    assert people(output) == ROWS
    assert states_of(output, "customers")[-1] == COMPLETE


def test_the_signed_download_is_fetched_without_the_api_key(requests_mock):
    mock_export(requests_mock)
    read_export()
    [download] = calls_to(requests_mock, "/exports/5.csv")
    assert "Authorization" not in download.headers
    assert all(
        r.headers.get("Authorization")
        for r in requests_mock.request_history
        if r.hostname == "api.customer.io"
    )


def test_csv_rows_become_person_records(requests_mock):
    mock_export(requests_mock)
    first, second = records_of(read_export())
    assert first["identifiers"] == {"cio_id": "1", "id": "p1", "email": "one@example.com"}
    assert first["attributes"] == {"cio_id": "1", "id": "p1", "email": "one@example.com", "plan": "pro"}
    assert "plan" not in second["attributes"]


def test_state_every_slice_of_rows_then_complete(requests_mock, monkeypatch):
    monkeypatch.setattr(customers, "EXPORT_ROWS_PER_SLICE", 2)
    csv = "cio_id,email\n" + "".join(f"{n},{n}@example.com\n" for n in range(1, 6))
    mock_export(requests_mock, csv=csv)
    output = read_export()
    assert [r["cio_id"] for r in records_of(output)] == ["1", "2", "3", "4", "5"]
    states = states_of(output, "customers")
    assert states[:3] == [{"export_id": 5, "rows_done": 2}, {"export_id": 5, "rows_done": 4}, COMPLETE]
    assert len(calls_to(requests_mock, "/exports/5.csv")) == 1  # one download, read across slices


def test_a_read_with_export_state_resumes_the_same_export_after_the_rows_done(requests_mock):
    mock_export(requests_mock)
    output = read_export(saved={"export_id": 5, "rows_done": 1})
    assert calls_to(requests_mock, "/v1/exports/customers") == []
    assert people(output) == ROWS[1:]


def test_a_vanished_export_is_started_again(requests_mock):
    mock_export(requests_mock)
    requests_mock.get(f"{US}/exports/4", status_code=404)
    output = read_export(saved={"export_id": 4, "rows_done": 1})
    assert len(calls_to(requests_mock, "/v1/exports/customers", "POST")) == 1
    assert people(output) == ROWS
    assert any("export 4 is gone" in line for line in log_lines(output, Level.WARN))


def test_a_failed_export_is_a_transient_error_suggesting_search(requests_mock):
    mock_export(requests_mock, statuses=("pending", "failed"))
    output = read_export(expect_error=True)
    errors = [e for e in error_traces(output) if e.failure_type == FailureType.transient_error]
    assert errors and "export 5 failed" in errors[0].message and "'search'" in errors[0].message


def test_an_export_not_ready_in_time_is_a_transient_error(requests_mock, export_sleeps):
    mock_export(requests_mock, statuses=("pending",))
    output = read_export(expect_error=True, export_timeout_minutes=1)
    errors = [e for e in error_traces(output) if e.failure_type == FailureType.transient_error]
    assert errors and "not ready after" in errors[0].message and "export_timeout_minutes" in errors[0].message
    assert export_sleeps.calls == [1, 2, 4, 8, 16, 30]


def test_a_download_error_fetches_a_fresh_link_and_goes_on(requests_mock):
    mock_export(requests_mock, downloads=[{"status_code": 503}, {"text": CSV}])
    output = read_export()
    assert people(output) == ROWS
    assert len(calls_to(requests_mock, "/v1/exports/5/download")) == 2
    warnings = [line for line in log_lines(output, Level.WARN) if "download of export 5" in line]
    assert warnings and "https://files.example.com/" in warnings[0]


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
    cut = len("cio_id,id,email,plan\n1,p1,one@example.com,pro\n2,")
    broken = {"body": io.BufferedReader(CutOff(CSV.encode(), cut), buffer_size=8)}
    mock_export(requests_mock, downloads=[broken, {"text": CSV}])
    output = read_export()
    assert people(output) == ROWS
    assert len(calls_to(requests_mock, "/exports/5.csv")) == 2


def test_a_download_that_keeps_failing_is_a_transient_error(requests_mock, export_sleeps):
    mock_export(requests_mock, downloads=[{"status_code": 500}])
    output = read_export(expect_error=True)
    errors = [e for e in error_traces(output) if e.failure_type == FailureType.transient_error]
    assert errors and "Could not download customer export 5 after 5 attempts" in errors[0].message
    assert len(calls_to(requests_mock, "/exports/5.csv")) == 5


def test_no_download_link_is_a_transient_error(requests_mock):
    mock_export(requests_mock)
    requests_mock.get(f"{US}/exports/5/download", json={})
    output = read_export(expect_error=True)
    assert any("no download link" in e.message for e in error_traces(output))


@pytest.mark.parametrize("answer", [{"json": {}}, {"json": {"export": {"status": "pending"}}}])
def test_an_export_without_an_id_is_a_transient_error(answer, requests_mock):
    requests_mock.post(f"{US}/exports/customers", **answer)
    output = read_export(expect_error=True)
    assert any("did not return an export id" in e.message for e in error_traces(output))
