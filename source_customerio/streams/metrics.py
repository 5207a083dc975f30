"""Daily metrics: the API's arrays of counts turned into one row per parent (per action) per day.

An answer is `{"metric": {"series": {"sent": [...], "opened": [...], ...}}}`, one entry per period,
oldest first, not split by message type. A row holds the parent's id (and the action's), `day` (the
calendar date, ISO), `day_start` (the unix time that day begins), `timezone` (what a day means), and
one integer column per metric the API returns.

Rows are for days that have ended, from the parent's creation (or start_date) to yesterday: a day
still under way would be a row whose counts are not final (they are re-read anyway, see below).

Two API versions, two meanings of a day:
- Campaign and campaign-action metrics take version 2 (`res`, `tz`, `start`, `end`): the connector asks
  for UTC days explicitly, from 00:00 UTC of the first day to the end of yesterday (10 years at most).
  Entry i is the i-th day from `start`.
- Broadcast and newsletter metrics take only version 1 (`period=days`, `steps`, at most 45 days). Their
  days "start at 00:00 EST" (UTC-05:00) and the window ends at the request, so the last entry is the
  current EST day: entries are dated from the end. Older days cannot be read (a warning says so).

Opens and clicks keep arriving after a send: an incremental read re-reads `metrics_lookback_days`
before each parent's last day read. The cursor is `day_start`; state per parent: `{"day_start": unix}`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from airbyte_cdk.models import SyncMode

from source_customerio.streams.base import CustomerioStream, StreamContext
from source_customerio.streams.children import FanOutStream, Parent

DAY = 86_400
UTC = timezone.utc
EST = timezone(timedelta(hours=-5), "EST")
# Version 2 wants a region-format zone name. Were it not applied, the EST days (the default) over a range of
# whole UTC days would be one more than asked, which stops the read (sandbox switch `metrics_tz_ignored`).
V2_TIMEZONE = "Etc/UTC"
V2_MAX_DAYS = 3650  # `end` is "limited to 10 years from the `start` parameter"
V1_PARAMS = {"period": "days", "steps": 45}  # the most days version 1 answers
EARLIEST = date(2012, 1, 1)  # before any Customer.io send


@dataclass(frozen=True)
class Series:
    name: str
    parent: str
    path: str
    parent_key: str
    version: int
    per_action: bool = False

    @property
    def primary_key(self) -> list[str]:
        return [self.parent_key, *(["action_id"] if self.per_action else []), "day"]

    @property
    def zone(self) -> timezone:
        return UTC if self.version == 2 else EST


SERIES: tuple[Series, ...] = (
    Series("campaign_metrics", "campaigns", "campaigns/{parent_id}/metrics", "campaign_id", 2),
    Series(
        "campaign_action_metrics",
        "campaigns",
        "campaigns/{parent_id}/actions/{action_id}/metrics",
        "campaign_id",
        2,
        per_action=True,
    ),
    Series("broadcast_metrics", "broadcasts", "broadcasts/{parent_id}/metrics", "broadcast_id", 1),
    Series("newsletter_metrics", "newsletters", "newsletters/{parent_id}/metrics", "newsletter_id", 1),
)


def day_of(unix: int, zone: timezone) -> date:
    return datetime.fromtimestamp(unix, zone).date()


def day_start(day: date, zone: timezone) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def series_of(payload: Any) -> dict[str, list[Any]] | None:
    """The metric arrays of an answer, or None when it has none of the documented shape."""
    metric = payload.get("metric") if isinstance(payload, Mapping) else None
    series = metric.get("series") if isinstance(metric, Mapping) else None
    if not isinstance(series, Mapping) or not all(isinstance(v, list) for v in series.values()):
        return None
    return {str(name): values for name, values in series.items()}


def daily_rows(
    series: Mapping[str, list[Any]], days: list[date], ids: Mapping[str, Any], zone: timezone
) -> list[dict[str, Any]]:
    """One row per day: `days[i]` gets entry i of every metric."""
    rows = []
    label = "UTC" if zone is UTC else "EST"
    for i, day in enumerate(days):
        row: dict[str, Any] = {
            **ids,
            "day": day.isoformat(),
            "day_start": day_start(day, zone),
            "timezone": label,
        }
        for name, values in series.items():
            value = values[i]
            row[name] = int(value) if isinstance(value, float) and value.is_integer() else value
        rows.append(row)
    return rows


class MetricsStream(FanOutStream):
    """A row of SERIES: each parent's (or each of its actions') daily series, one request each."""

    def __init__(self, series: Series, context: StreamContext) -> None:
        self.series = series
        self._warned = False
        self._warn_lock = threading.Lock()
        super().__init__(series, context)

    @property
    def record_cursor(self) -> str:
        return "day_start"

    def sub_path(self, parent_id: str) -> str:
        if self.series.per_action:
            return f"campaigns/{parent_id}/actions"
        return self.series.path.format(parent_id=parent_id)

    def probe_target(self) -> tuple[str, str, dict[str, Any], dict[str, Any] | None]:
        path = self.series.path.format(parent_id=0, action_id=0)
        yesterday = day_of(int(time.time()), UTC) - timedelta(days=1)
        return "GET", path, self._params(yesterday, yesterday), None

    # -- one parent ----------------------------------------------------------------------------------

    def parent_pages(self, parent: Parent, sync_mode: SyncMode) -> Iterator[list[dict[str, Any]]]:
        ids = {self.series.parent_key: parent.record["id"]}
        if not self.series.per_action:
            rows = self._rows(
                self.series.path.format(parent_id=parent.key), parent, parent.record, ids, sync_mode
            )
            if rows is not None:
                yield rows
            return
        for actions in self.sub_pages(f"campaigns/{parent.key}/actions", "actions"):
            yield []  # the campaign is there; then one page per action, so a page is one series at most
            for action in actions:
                if not isinstance(action, Mapping) or action.get("id") in (None, ""):
                    continue
                path = self.series.path.format(parent_id=parent.key, action_id=action["id"])
                rows = self._rows(path, parent, action, {**ids, "action_id": action["id"]}, sync_mode)
                if rows:  # None: the action was deleted meanwhile
                    yield rows

    def _rows(
        self, path: str, parent: Parent, subject: Mapping[str, Any], ids: dict[str, Any], sync_mode: SyncMode
    ) -> list[dict[str, Any]] | None:
        zone, normalize = self.series.zone, self.normalize
        first = self._first_day(parent.saved, subject.get("created"), sync_mode)
        answer = self._v2(path, first) if self.series.version == 2 else self._v1(path, first)
        if answer is None:
            return None
        series, days, last = answer
        wanted = (first.isoformat(), last.isoformat())
        return [
            normalize(row)
            for row in daily_rows(series, days, ids, zone)
            if wanted[0] <= row["day"] <= wanted[1]
        ]

    def _first_day(self, saved: Any, created: Any, sync_mode: SyncMode) -> date:
        zone, config = self.series.zone, self.context.config
        bounds = [EARLIEST]
        if isinstance(created, int) and not isinstance(created, bool):
            bounds.append(day_of(created, zone))
        if config.start_timestamp is not None:
            bounds.append(day_of(config.start_timestamp, zone))
        if sync_mode == SyncMode.incremental and isinstance(saved, int) and not isinstance(saved, bool):
            bounds.append(day_of(saved, zone) - timedelta(days=config.metrics_lookback_days))
        return max(bounds)

    def _params(self, first: date, last: date) -> dict[str, Any]:
        if self.series.version == 1:
            return V1_PARAMS
        start, end = day_start(first, UTC), day_start(last, UTC) + DAY - 1
        return {"version": 2, "res": "daily", "tz": V2_TIMEZONE, "start": start, "end": end}

    def _v2(self, path: str, first: date) -> tuple[dict[str, list[Any]], list[date], date] | None:
        """UTC days from `first` to yesterday: entry i is day first + i. An answer may leave out the
        newest days, read next time (a guess: sandbox switch `metrics_newest_days_omitted`); one longer
        than asked cannot be dated, and stops the read."""
        last = day_of(int(time.time()), UTC) - timedelta(days=1)
        oldest = last - timedelta(days=V2_MAX_DAYS - 1)
        if first < oldest:
            self._warn_once(
                f"days before {oldest} (more than 10 years ago) cannot be asked for; they are left out"
            )
            first = oldest
        if first > last:
            return {}, [], last
        payload = self.request(path, self._params(first, last), allow_missing=True)
        if payload is None:
            return None
        series, length = self._checked(path, payload)
        asked = (last - first).days + 1
        if length > asked:
            raise self.unexpected(
                f"/{path} answered {length} daily entries for the {asked} UTC days from {first} to {last} "
                f"(tz={V2_TIMEZONE}): the days cannot be dated (was the time zone applied?)."
            )
        return series, [first + timedelta(days=i) for i in range(length)], last

    def _v1(self, path: str, first: date) -> tuple[dict[str, list[Any]], list[date], date] | None:
        """The last entry is today (EST) as of the answer; a request that crossed midnight is sent again."""
        if first >= day_of(int(time.time()), EST):
            return {}, [], first
        for _ in range(3):
            before = day_of(int(time.time()), EST)
            payload = self.request(path, V1_PARAMS, allow_missing=True)
            today = day_of(int(time.time()), EST)
            if today == before:
                break
        if payload is None:
            return None
        series, length = self._checked(path, payload)
        days = [today - timedelta(days=length - 1 - i) for i in range(length)]
        if days and first < days[0]:
            self._warn_once(
                f"Customer.io answers the last {length} days only (days before {days[0]}, EST, are left out)"
            )
        return series, days, today - timedelta(days=1)

    def _checked(self, path: str, payload: Any) -> tuple[dict[str, list[Any]], int]:
        series = series_of(payload)
        if series is None:
            raise self.unexpected(f"/{path} answered without metric.series arrays.")
        lengths = {len(values) for values in series.values()}
        if len(lengths) > 1:
            raise self.unexpected(f"/{path} answered metric arrays of different lengths {sorted(lengths)}.")
        return series, lengths.pop() if lengths else 0

    def _warn_once(self, what: str) -> None:
        with self._warn_lock:
            if self._warned:
                return
            self._warned = True
        self.logger.warning(f"Stream '{self.name}': {what}.")


def metrics_streams(context: StreamContext) -> list[CustomerioStream]:
    return [MetricsStream(series, context) for series in SERIES]
