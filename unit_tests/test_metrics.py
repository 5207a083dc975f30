"""Daily metrics: what each series is asked, and how its arrays become one row per parent per day."""

from __future__ import annotations

import types
from datetime import date, datetime, timezone

import pytest
from airbyte_cdk.models import FailureType, Level, SyncMode

from source_customerio.streams import metrics
from unit_tests.builders import (
    US,
    ConfigBuilder,
    action,
    broadcast,
    calls_to,
    campaign,
    error_traces,
    log_lines,
    newsletter,
    page,
    query,
    read_stream,
    records_of,
    series,
    state,
    states_of,
)

NOW = 1_735_689_600 + 15 * 3600  # 2025-01-01T15:00:00Z: 2025-01-01 in UTC, 2025-01-01 10:00 in EST
DAY = 86_400


def unix(day: str, hours: int = 0) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp()) + hours * 3600


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    monkeypatch.setattr(metrics, "time", types.SimpleNamespace(time=lambda: float(NOW)))


def serve_campaign(requests_mock, created: int, answer) -> None:
    requests_mock.get(f"{US}/campaigns", json={"campaigns": [campaign(15, created=created)]})
    requests_mock.get(f"{US}/campaigns/15/metrics", json=answer)


def test_campaign_metrics_ask_for_the_utc_days_from_creation_to_yesterday(requests_mock):
    serve_campaign(requests_mock, unix("2024-12-30", hours=20), series(sent=[1, 2], opened=[0, 1]))
    output = read_stream(ConfigBuilder().build(), "campaign_metrics")
    assert error_traces(output) == []
    [request] = calls_to(requests_mock, "/v1/campaigns/15/metrics")
    assert query(request) == {
        "version": "2",
        "res": "daily",
        "tz": "Etc/UTC",
        "start": str(unix("2024-12-30")),
        "end": str(unix("2025-01-01") - 1),
    }
    assert records_of(output) == [
        {"campaign_id": 15, "day": d, "day_start": unix(d), "timezone": "UTC", "sent": s, "opened": o}
        for d, s, o in (("2024-12-30", 1, 0), ("2024-12-31", 2, 1))
    ]


def test_every_metric_the_api_returns_becomes_an_integer_column(requests_mock):
    serve_campaign(requests_mock, unix("2024-12-31"), series(sent=[4.0], **{"2xx": [1], "new_metric": [7]}))
    [row] = records_of(read_stream(ConfigBuilder().build(), "campaign_metrics"))
    assert (row["sent"], row["2xx"], row["new_metric"]) == (4, 1, 7)
    assert type(row["sent"]) is int


def test_start_date_is_the_first_day_asked(requests_mock):
    serve_campaign(requests_mock, unix("2023-01-01"), series(sent=[1, 1]))
    read_stream(ConfigBuilder().with_start_date("2024-12-31").build(), "campaign_metrics")
    [request] = calls_to(requests_mock, "/v1/campaigns/15/metrics")
    assert query(request)["start"] == str(unix("2024-12-31"))


@pytest.mark.parametrize(("lookback", "first"), [(0, "2024-12-28"), (2, "2024-12-26"), (30, "2024-11-28")])
def test_incremental_reads_again_lookback_days_before_the_last_day_read(lookback, first, requests_mock):
    serve_campaign(requests_mock, unix("2020-01-01"), series(sent=[0]))
    saved = state("campaign_metrics", {"parents": {"15": {"day_start": unix("2024-12-28")}}})
    config = ConfigBuilder().with_(metrics_lookback_days=lookback).build()
    output = read_stream(config, "campaign_metrics", SyncMode.incremental, state=saved)
    [request] = calls_to(requests_mock, "/v1/campaigns/15/metrics")
    assert query(request)["start"] == str(unix(first))
    assert [r["day"] for r in records_of(output)] == [first]
    assert states_of(output, "campaign_metrics")[-1] == {"parents": {"15": {"day_start": unix("2024-12-28")}}}


def test_the_state_holds_each_parents_last_day(requests_mock):
    serve_campaign(requests_mock, unix("2024-12-30"), series(sent=[1, 2]))
    output = read_stream(ConfigBuilder().build(), "campaign_metrics", SyncMode.incremental)
    assert states_of(output, "campaign_metrics")[-1] == {"parents": {"15": {"day_start": unix("2024-12-31")}}}


def test_an_answer_shorter_than_asked_dates_its_days_from_the_start(requests_mock):
    """The newest days may not be counted yet: they are read next time."""
    serve_campaign(requests_mock, unix("2024-12-29"), series(sent=[5, 6]))
    output = read_stream(ConfigBuilder().build(), "campaign_metrics")
    assert [(r["day"], r["sent"]) for r in records_of(output)] == [("2024-12-29", 5), ("2024-12-30", 6)]


def test_an_answer_longer_than_asked_cannot_be_dated_and_stops_the_read(requests_mock):
    serve_campaign(requests_mock, unix("2024-12-30"), series(sent=[1, 2, 3]))
    output = read_stream(ConfigBuilder().build(), "campaign_metrics", expect_error=True)
    assert records_of(output) == []
    error = error_traces(output)[0]
    assert error.failure_type == FailureType.system_error
    assert "answered 3 daily entries for the 2 UTC days from 2024-12-30 to 2024-12-31" in error.message


@pytest.mark.parametrize(
    ("answer", "what"),
    [
        ({"metric": {"sent": [1]}}, "without metric.series arrays"),
        ({"metrics": []}, "without metric.series arrays"),
        (series(sent=[1, 2], opened=[1]), "metric arrays of different lengths [1, 2]"),
    ],
)
def test_an_answer_of_another_shape_stops_the_read(answer, what, requests_mock):
    serve_campaign(requests_mock, unix("2024-12-31"), answer)
    output = read_stream(ConfigBuilder().build(), "campaign_metrics", expect_error=True)
    assert what in error_traces(output)[0].message


def test_campaign_action_metrics_list_the_actions_then_ask_each(requests_mock):
    requests_mock.get(f"{US}/campaigns", json={"campaigns": [campaign(15, created=unix("2020-01-01"))]})
    requests_mock.get(
        f"{US}/campaigns/15/actions",
        [
            {"json": page("actions", [action(151, created=unix("2024-12-30"))], next="p2")},
            {"json": page("actions", [action(152, created=unix("2024-12-31"))], next="")},
        ],
    )
    requests_mock.get(f"{US}/campaigns/15/actions/151/metrics", json=series(sent=[1, 2]))
    requests_mock.get(f"{US}/campaigns/15/actions/152/metrics", json=series(sent=[3]))
    output = read_stream(ConfigBuilder().build(), "campaign_action_metrics")
    assert [(r["campaign_id"], r["action_id"], r["day"], r["sent"]) for r in records_of(output)] == [
        (15, 151, "2024-12-30", 1),
        (15, 151, "2024-12-31", 2),
        (15, 152, "2024-12-31", 3),
    ]
    [ask] = calls_to(requests_mock, "/v1/campaigns/15/actions/151/metrics")
    assert query(ask)["version"] == "2" and query(ask)["start"] == str(unix("2024-12-30"))


def test_an_action_deleted_mid_sync_is_skipped(requests_mock):
    requests_mock.get(f"{US}/campaigns", json={"campaigns": [campaign(15, created=unix("2024-12-31"))]})
    requests_mock.get(f"{US}/campaigns/15/actions", json=page("actions", [action(151), action(152)]))
    requests_mock.get(f"{US}/campaigns/15/actions/151/metrics", status_code=404, json={})
    requests_mock.get(f"{US}/campaigns/15/actions/152/metrics", json=series(sent=[3]))
    output = read_stream(ConfigBuilder().build(), "campaign_action_metrics")
    assert error_traces(output) == []
    assert [r["action_id"] for r in records_of(output)] == [152]


@pytest.mark.parametrize(("stream", "path", "key", "factory"), [
    ("broadcast_metrics", "broadcasts", "broadcast_id", broadcast),
    ("newsletter_metrics", "newsletters", "newsletter_id", newsletter),
])  # fmt: skip
def test_version_1_series_end_today_in_est_and_rows_run_from_creation_to_yesterday(
    stream, path, key, factory, requests_mock
):
    requests_mock.get(f"{US}/{path}", json={path: [factory(4, created=unix("2024-12-30", hours=12))]})
    requests_mock.get(f"{US}/{path}/4/metrics", json=series(sent=[1, 2, 3, 4], opened=[0, 0, 1, 1]))
    output = read_stream(ConfigBuilder().build(), stream)
    [request] = calls_to(requests_mock, f"/v1/{path}/4/metrics")
    assert query(request) == {"period": "days", "steps": "45"}
    # Four entries ending today, 2025-01-01 (EST): the day before the creation day (2024-12-30 EST) and
    # today, not over yet, are no rows.
    est = 5 * 3600
    assert records_of(output) == [
        {key: 4, "day": d, "day_start": unix(d) + est, "timezone": "EST", "sent": s, "opened": o}
        for d, s, o in (("2024-12-30", 2, 0), ("2024-12-31", 3, 1))
    ]


def test_days_version_1_cannot_give_are_named_in_a_warning(requests_mock):
    requests_mock.get(f"{US}/broadcasts", json={"broadcasts": [broadcast(4, created=unix("2023-01-01"))]})
    requests_mock.get(f"{US}/broadcasts/4/metrics", json=series(sent=[1] * 45))
    output = read_stream(ConfigBuilder().build(), "broadcast_metrics")
    days = [r["day"] for r in records_of(output)]
    assert (len(days), days[0], days[-1]) == (44, "2024-11-18", "2024-12-31")
    assert any("last 45 days only" in w and "2024-11-18" in w for w in log_lines(output, Level.WARN))


def test_version_1_metrics_keep_only_days_after_the_saved_one_less_the_lookback(requests_mock):
    requests_mock.get(f"{US}/newsletters", json={"newsletters": [newsletter(4, created=unix("2023-01-01"))]})
    requests_mock.get(f"{US}/newsletters/4/metrics", json=series(sent=list(range(45))))
    saved = state("newsletter_metrics", {"parents": {"4": {"day_start": unix("2024-12-30") + 5 * 3600}}})
    config = ConfigBuilder().with_(metrics_lookback_days=1).build()
    output = read_stream(config, "newsletter_metrics", SyncMode.incremental, state=saved)
    assert [(r["day"], r["sent"]) for r in records_of(output)] == [
        ("2024-12-29", 41),
        ("2024-12-30", 42),
        ("2024-12-31", 43),
    ]
    assert not log_lines(output, Level.WARN)


def test_a_version_1_request_that_crosses_midnight_is_sent_again(requests_mock, monkeypatch):
    midnight_est = unix("2025-01-02") + 5 * 3600
    # Before the first request it is 23:59:59 EST; the answer arrives after midnight.
    clock = iter([midnight_est - 2, midnight_est - 1, midnight_est + 1, midnight_est + 2, midnight_est + 2])
    monkeypatch.setattr(
        metrics, "time", types.SimpleNamespace(time=lambda: float(next(clock, midnight_est + 3)))
    )
    requests_mock.get(f"{US}/broadcasts", json={"broadcasts": [broadcast(4, created=unix("2024-12-31", 12))]})
    requests_mock.get(f"{US}/broadcasts/4/metrics", json=series(sent=[1, 2]))
    output = read_stream(ConfigBuilder().build(), "broadcast_metrics")
    assert len(calls_to(requests_mock, "/v1/broadcasts/4/metrics")) == 2
    # Dated from the answer's today, 2025-01-02, which is not a row yet.
    assert [r["day"] for r in records_of(output)] == ["2025-01-01"]


def test_days_are_calendar_days_of_the_zone():
    assert metrics.day_of(unix("2025-01-01", 3), metrics.EST) == date(2024, 12, 31)
    assert metrics.day_of(unix("2025-01-01", 3), metrics.UTC) == date(2025, 1, 1)
    assert metrics.day_start(date(2025, 1, 1), metrics.EST) == unix("2025-01-01", 5)
