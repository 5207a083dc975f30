"""The sandbox's sub-resource routes answer like the App API reference says (checked here over HTTP,
independently of the connector): metrics' shapes and parameters, contents' fields, deleted parents."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from integration_tests.sandbox_client import session

DAY = 86_400


def utc_midnight(days_ago: int) -> int:
    today = datetime.now(timezone.utc).date() - timedelta(days=days_ago)
    return int(datetime(today.year, today.month, today.day, tzinfo=timezone.utc).timestamp())


def v2(start: int, end: int, **extra: str) -> dict:
    return {"version": "2", "res": "daily", "tz": "Etc/UTC", "start": start, "end": end, **extra}


def series_lengths(answer: dict) -> set[int]:
    return {len(values) for values in answer["metric"]["series"].values()}


def test_version_2_answers_one_entry_per_day_asked_for_every_metric(sandbox):
    s = session()
    answer = s.get(
        f"{sandbox.base_url}/campaigns/15/metrics", params=v2(utc_midnight(9), utc_midnight(0) + 5)
    )
    assert answer.status_code == 200
    assert series_lengths(answer.json()) == {10}
    assert {"sent", "delivered", "opened", "clicked", "converted", "2xx"} <= set(
        answer.json()["metric"]["series"]
    )


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"res": "daily", "start": 0, "end": 1}, 400),  # no version
        (v2(utc_midnight(2), utc_midnight(0), tz="Mars/Olympus"), 400),
        (v2(utc_midnight(4000), utc_midnight(0)), 400),  # more than 10 years
        (v2(utc_midnight(2), utc_midnight(0), res="monthly"), 400),
    ],
)
def test_version_2_refuses_what_it_does_not_serve(sandbox, params, status):
    assert session().get(f"{sandbox.base_url}/campaigns/15/metrics", params=params).status_code == status


def test_without_its_time_zone_applied_an_answer_counts_est_days(sandbox):
    url, two_utc_days = f"{sandbox.base_url}/campaigns/15/metrics", v2(utc_midnight(2), utc_midnight(0) - 1)
    assert series_lengths(session().get(url, params=two_utc_days).json()) == {2}
    sandbox.configure(metrics_tz_ignored=True)
    # From 00:00 UTC two days ago to the end of yesterday (UTC): three EST days.
    assert series_lengths(session().get(url, params=two_utc_days).json()) == {3}


def test_version_1_answers_the_last_steps_days(sandbox):
    s = session()
    for path in ("broadcasts/2/metrics", "newsletters/128270/metrics"):
        assert series_lengths(s.get(f"{sandbox.base_url}/{path}").json()) == {45}
        assert series_lengths(s.get(f"{sandbox.base_url}/{path}", params={"steps": 7}).json()) == {7}


def test_newsletter_contents_have_no_times_unless_the_switch_says_so(sandbox):
    s = session()
    [first, *_] = s.get(f"{sandbox.base_url}/newsletters/128270/contents").json()["contents"]
    assert "updated" not in first and first["newsletter_id"] == 128270
    sandbox.configure(newsletter_contents_updated=True)
    [first, *_] = s.get(f"{sandbox.base_url}/newsletters/128270/contents").json()["contents"]
    assert isinstance(first["updated"], int)
    [content, *_] = s.get(f"{sandbox.base_url}/transactional/1/contents").json()["contents"]
    assert isinstance(content["updated"], int) and "transactional_id" not in content


def test_a_deleted_parent_stays_listed_and_its_sub_resources_answer_404(sandbox):
    sandbox.configure(deleted_parents=1)
    s = session()
    assert "15" in {str(c["id"]) for c in s.get(f"{sandbox.base_url}/campaigns").json()["campaigns"]}
    for path in (
        "campaigns/15/actions",
        "campaigns/15/metrics",
        "segments/7/membership",
        "broadcasts/2/actions",
    ):
        assert s.get(f"{sandbox.base_url}/{path}", params={"version": "1"}).status_code == 404, path
    assert s.get(f"{sandbox.base_url}/campaigns/16/actions").status_code == 200
