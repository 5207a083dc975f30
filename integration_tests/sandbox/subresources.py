"""The tables under the tables: per-parent routes, their records, daily metrics, truth and mutations.

Routes (each answers 404 for an unknown or deleted parent, and for the first `deleted_parents` parents
of each list, which stay listed: deleted between the listing and this request):
- `GET /v1/campaigns/{id}/actions`: up to 10 a page, `start`/`next` (positions: an action deleted before
  a cursor moves the later ones up; `actions_deleted_while_paging` deletes some as the first page is
  served); `GET /v1/campaigns/{id}/actions/{id}`: one action, `{"action": ...}`, or 404.
- `/v1/broadcasts/{id}/actions`, `/v1/newsletters/{id}/contents`, `/v1/transactional/{id}/contents`:
  whole lists (`{}` when empty under `empty_list_omits_key`).
- Metrics, `{"metric": {"series": {name: [count per period, oldest first]}}}`:
  `GET /v1/campaigns/{id}/metrics` and `/v1/campaigns/{id}/actions/{id}/metrics` take `version`
  (required); version 2 takes `res` (daily only here), `tz` (default EST), `start`, `end` (unix; the
  days from the one holding `start` to the one holding `end`, at most 10 years). Version 1, and
  `/v1/broadcasts/{id}/metrics`, `/v1/newsletters/{id}/metrics`, take `period` (days only here) and
  `steps` (2 to 45, default 45): the last `steps` days, EST (UTC-05:00), today last.
A day's counts are a pure function of (seed, object, date), zero before the object was created, plus
what `mutate(<metrics stream>, "update", n)` added to yesterday (opens and clicks that came late).
Newsletter contents carry no created/updated unless the quirk `newsletter_contents_updated` is set, as in
the OpenAPI document.

Deletions: `mutate(<child stream>, "delete", n)` deletes n children of live parents (they leave their
parent's list, the by-id route, the truth, and an action its metrics); a parent deleted from its list
(`data.DELETABLE`) takes its sub-resources with it. The parent's own record (its `actions`, `content_ids`)
is left as it was.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .tables import Ctx, Record, Table
from .util import ApiError, Draw, mix, salt

if TYPE_CHECKING:
    from .api import Api, Req
    from .data import World

Payload = dict[str, Any]
EST = timezone(timedelta(hours=-5), "EST")
V1_MAX_STEPS = 45
MAX_METRIC_DAYS = 3653
METRICS = (
    "attempted", "sent", "delivered", "opened", "human_opened", "prefetch_opened", "clicked", "human_clicked",
    "prefetch_clicked", "converted", "bounced", "spammed", "unsubscribed", "topic_unsubscribed", "suppressed",
    "failed", "undeliverable", "deferred", "drafted", "created", "2xx", "3xx", "4xx", "5xx",
)  # fmt: skip
# stream -> (parent list, version of its metrics)
METRIC_STREAMS = {
    "campaign_metrics": ("campaigns", 2),
    "campaign_action_metrics": ("campaigns", 2),
    "broadcast_metrics": ("broadcasts", 1),
    "newsletter_metrics": ("newsletters", 1),
}
CHILD_STREAMS = {
    "campaign_actions": "campaigns",
    "broadcast_actions": "broadcasts",
    "newsletter_variants": "newsletters",
    "transactional_contents": "transactional_messages",
    "segment_memberships": "segments",
}
STREAMS = (*CHILD_STREAMS, *METRIC_STREAMS)
# The child streams whose records the `delete` mutation removes.
DELETABLE_CHILDREN = (
    "campaign_actions",
    "broadcast_actions",
    "newsletter_variants",
    "transactional_contents",
)
PRIMARY_KEYS = {
    "campaign_actions": ["campaign_id", "id"],
    "broadcast_actions": ["broadcast_id", "id"],
    "newsletter_variants": ["newsletter_id", "id"],
    "transactional_contents": ["transactional_message_id", "id"],
    "segment_memberships": ["segment_id", "cio_id"],
    "campaign_metrics": ["campaign_id", "day"],
    "campaign_action_metrics": ["campaign_id", "action_id", "day"],
    "broadcast_metrics": ["broadcast_id", "day"],
    "newsletter_metrics": ["newsletter_id", "day"],
}


def action_record(ctx: Ctx, parent_field: str, parent: Record, ref: dict[str, Any], j: int) -> Record:
    d = ctx.draw("actions", int(ref["id"]))
    kind = str(ref["type"])
    created, last = int(parent["created"]), int(parent["updated"])
    updated = created + d.below(last - created + 1)  # each action changes on its own
    return {
        "id": ref["id"],
        parent_field: int(parent["id"]),
        "parent_action_id": None if j == 0 else int(ref["id"]) - 1,
        "deduplicate_id": f"{ref['id']}:{updated}",
        "name": f"{kind} step {j + 1}",
        "layout": "<html>{{ content }}</html>" if kind == "email" else None,
        "created": created,
        "updated": updated,
        "body": f"<p>Hello {{{{customer.first_name}}}}, step {j + 1}</p>",
        "type": kind,
        "sending_state": d.choice(("automatic", "draft", "off")),
        "from": "Team <team@example.com>" if kind == "email" else None,
        "from_id": 4530 if kind == "email" else None,
        "reply_to": None,
        "reply_to_id": None,
        "recipient": "{{customer.email}}" if kind == "email" else None,
        "subject": f"Step {j + 1}" if kind == "email" else None,
        "bcc": None,
        "fake_bcc": False,
        "preheader_text": "",
        "headers": "[]",
        "language": "",
    }


def content_record(ctx: Ctx, parent: Record, content_id: int, j: int) -> Record:
    """A message variant (a newsletter's test or language variant, a transactional message's language)."""
    d = ctx.draw("contents", content_id)
    return {
        "id": content_id,
        "name": f"{parent['name']} variant {j + 1}",
        "body": "<p>{{ snippets.footer }}</p>",
        "type": "email",
        "from": "Team <team@example.com>",
        "from_id": 4530,
        "reply_to": None,
        "subject": f"{parent['name']} ({d.choice(('en', 'fr', 'de'))})",
        "preheader_text": "",
        "language": "" if j == 0 else d.choice(("fr", "de", "es")),
    }


def day_counts(seed: int, kind: str, ids: tuple[int, ...], day: date) -> dict[str, int]:
    """The counts of one object on one date: a few sends, most delivered, some opened and clicked."""
    h = mix(seed, salt(kind), *ids, day.toordinal())
    sent = 0 if h % 4 == 0 else (h >> 4) % 30
    delivered = sent - (h >> 12) % 2 if sent else 0
    opened = (h >> 16) % (delivered + 1)
    clicked = (h >> 24) % (opened + 1)
    counts = dict.fromkeys(METRICS, 0)
    counts.update(attempted=sent, created=sent, sent=sent, delivered=delivered, opened=opened)
    counts.update(human_opened=opened - opened // 4, prefetch_opened=opened // 4, clicked=clicked)
    counts.update(human_clicked=clicked, converted=(h >> 32) % (clicked + 1), bounced=sent - delivered)
    counts["2xx"] = sent if kind.startswith("webhook") else 0
    return counts


class SubResources:
    def __init__(self, world: World) -> None:
        self.world = world
        self.ctx = world.ctx
        self._lock = threading.Lock()
        self._updated: dict[tuple[str, str], int] = {}  # (stream, "parent|child") -> new `updated`
        self._bumps: dict[tuple[str, tuple[int, ...], int], int] = {}  # (stream, ids, ordinal) -> extra sends
        self._gone: set[tuple[str, str]] = set()  # (stream, "parent|child") of deleted children
        self._mutations = 0

    # parents --------------------------------------------------------------------------------------------
    def parent(self, stream: str, raw_id: str) -> tuple[Table, int]:
        table = self.world.tables[stream]
        index = table.index_of(raw_id)
        if index is None or self.deleted(index):
            raise ApiError(404, f"{stream.rstrip('s')} {raw_id} not found")
        return table, index

    def deleted(self, index: int) -> bool:
        return index < self.world.quirks.deleted_parents

    def live_parents(self, stream: str) -> Iterator[Record]:
        table = self.world.tables[stream]
        for index in table.indices():
            if not self.deleted(index):
                yield table.record(index)

    # records --------------------------------------------------------------------------------------------
    def children(self, stream: str, parent: Record) -> list[Record]:
        ctx, pid = self.ctx, int(parent["id"])
        if stream in ("campaign_actions", "broadcast_actions"):
            field = "campaign_id" if stream == "campaign_actions" else "broadcast_id"
            rows = [action_record(ctx, field, parent, ref, j) for j, ref in enumerate(parent["actions"])]
        elif stream == "newsletter_variants":
            rows = [content_record(ctx, parent, c, j) for j, c in enumerate(parent["content_ids"])]
            for row in rows:
                row.update(newsletter_id=pid, type=parent["type"], layout="<html>{{ content }}</html>")
                row["deduplicate_id"] = f"{row['id']}:{parent['updated']}"
                if self.world.quirks.newsletter_contents_updated:
                    row.update(created=parent["created"], updated=parent["updated"])
        else:
            count = 1 + Draw(ctx.seed, salt("transactional_contents"), pid).below(3)
            rows = [content_record(ctx, parent, pid * 10 + j, j) for j in range(count)]
            for row in rows:
                created, last = int(parent["created_at"]), int(parent["updated_at"])
                row.update(
                    created=created, updated=created + Draw(ctx.seed, row["id"]).below(last - created + 1)
                )
        if self._gone:
            rows = [row for row in rows if (stream, f"{pid}|{row['id']}") not in self._gone]
        for row in rows:
            bumped = self._updated.get((stream, f"{pid}|{row['id']}"))
            if bumped is not None and "updated" in row:
                row["updated"] = bumped
                if "deduplicate_id" in row:
                    row["deduplicate_id"] = f"{row['id']}:{bumped}"
        return rows

    def series(self, stream: str, ids: tuple[int, ...], created: int, days: list[date]) -> Payload:
        born = datetime.fromtimestamp(created, timezone.utc).date()
        columns: dict[str, list[int]] = {name: [] for name in METRICS}
        for day in days:
            counts = day_counts(self.ctx.seed, stream, ids, day) if day >= born else dict.fromkeys(METRICS, 0)
            extra = self._bumps.get((stream, ids, day.toordinal()), 0)
            counts.update(sent=counts["sent"] + extra, delivered=counts["delivered"] + extra)
            for name in METRICS:
                columns[name].append(counts[name])
        return {"metric": {"series": columns}}

    # routes ---------------------------------------------------------------------------------------------
    def routes(self, api: Api) -> list[tuple[str, Callable[[Req, list[str]], Payload]]]:
        def campaign_actions(req: Req, groups: list[str]) -> Payload:
            table, index = self.parent("campaigns", groups[0])
            parent = table.record(index)
            rows = self.children("campaign_actions", parent)
            lim = api.limit(req, 10, 10)

            def serve(state: dict[str, Any]) -> tuple[Payload, dict[str, Any] | None]:
                pos = int(state.get("p", 0))
                end = min(pos + lim, len(rows))
                doomed = self.world.quirks.actions_deleted_while_paging
                if doomed and pos == 0:
                    with self._lock:
                        self._gone.update(
                            ("campaign_actions", f"{int(parent['id'])}|{row['id']}") for row in rows[:doomed]
                        )
                return {"actions": rows[pos:end]}, ({"p": end} if end < len(rows) else None)

            # Through the API's paging, quirks included (empty pages with `next`, loops, expiry).
            return api._page(req, "actions", {"actions": []}, serve)

        def campaign_action(req: Req, groups: list[str]) -> Payload:
            table, index = self.parent("campaigns", groups[0])
            for row in self.children("campaign_actions", table.record(index)):
                if str(row["id"]) == groups[1]:
                    return {"action": row}
            raise ApiError(404, "The campaign and/or action do not exist.")

        def whole(stream: str, envelope: str) -> Callable[[Req, list[str]], Payload]:
            def handler(req: Req, groups: list[str]) -> Payload:
                table, index = self.parent(CHILD_STREAMS[stream], groups[0])
                rows = self.children(stream, table.record(index))
                return {envelope: rows} if rows or not self.world.quirks.empty_list_omits_key else {}

            return handler

        return [
            ("/v1/campaigns/{id}/actions", campaign_actions),
            ("/v1/campaigns/{id}/actions/{id}", campaign_action),
            ("/v1/broadcasts/{id}/actions", whole("broadcast_actions", "actions")),
            ("/v1/newsletters/{id}/contents", whole("newsletter_variants", "contents")),
            ("/v1/transactional/{id}/contents", whole("transactional_contents", "contents")),
            ("/v1/campaigns/{id}/metrics", self._metrics("campaign_metrics")),
            ("/v1/campaigns/{id}/actions/{id}/metrics", self._metrics("campaign_action_metrics")),
            ("/v1/broadcasts/{id}/metrics", self._metrics("broadcast_metrics")),
            ("/v1/newsletters/{id}/metrics", self._metrics("newsletter_metrics")),
        ]

    def _metrics(self, stream: str) -> Callable[[Req, list[str]], Payload]:
        parents, version = METRIC_STREAMS[stream]

        def handler(req: Req, groups: list[str]) -> Payload:
            table, index = self.parent(parents, groups[0])
            subject = parent = table.record(index)
            ids: tuple[int, ...] = (int(parent["id"]),)
            if stream == "campaign_action_metrics":
                refs = [r for r in self.actions(parent) if str(r["id"]) == groups[1]]
                if not refs:
                    raise ApiError(404, f"action {groups[1]} not found")
                ids = (*ids, int(refs[0]["id"]))
            asked = req.arg("version")
            if parents == "campaigns" and asked not in ("1", "2"):
                raise ApiError(400, "version is required: 1 or 2")
            days = self._v2_days(req) if version == 2 and asked == "2" else self._v1_days(req)
            return self.series(stream, ids, int(subject["created"]), days)

        return handler

    def _v2_days(self, req: Req) -> list[date]:
        if req.arg("res") not in ("days", "daily"):
            raise ApiError(400, "the sandbox serves res=daily (days) only")
        name = req.arg("tz") or "EST"
        try:
            zone = ZoneInfo("EST" if self.world.quirks.metrics_tz_ignored else name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ApiError(
                400, f"unknown time zone {name!r}; use the region format, e.g. America/New_York"
            ) from exc
        start, end = req.int_arg("start"), req.int_arg("end")
        if start is None or end is None or end < start:
            raise ApiError(400, "start and end (unix seconds, end after start) are required")
        first, last = (datetime.fromtimestamp(t, zone).date() for t in (start, end))
        count = (last - first).days + 1 - self.world.quirks.metrics_newest_days_omitted
        if count > MAX_METRIC_DAYS:
            raise ApiError(400, "end is limited to 10 years from start")
        return [first + timedelta(days=i) for i in range(max(count, 0))]

    def _v1_days(self, req: Req) -> list[date]:
        if (req.arg("period") or "days") != "days":
            raise ApiError(400, "the sandbox serves period=days only")
        steps = req.int_arg("steps") or V1_MAX_STEPS
        steps = min(max(steps, 2), V1_MAX_STEPS)
        today = today_in(EST)
        return [today - timedelta(days=steps - 1 - i) for i in range(steps)]

    # truth ----------------------------------------------------------------------------------------------
    def keys(self, stream: str) -> Iterator[str]:
        if stream == "segment_memberships":
            people = self.world.people
            for segment in self.live_parents("segments"):
                sid = int(segment["id"])
                yield from (
                    f"{sid}|{people.cio_id(i)}" for i in range(people.count) if people.in_segment(sid, i)
                )
        elif stream in CHILD_STREAMS:
            for parent in self.live_parents(CHILD_STREAMS[stream]):
                yield from (f"{int(parent['id'])}|{row['id']}" for row in self.children(stream, parent))
        else:
            for ids, days in self.metric_days(stream):
                yield from ("|".join(map(str, ids)) + f"|{day.isoformat()}" for day in days)

    def metric_days(self, stream: str) -> Iterator[tuple[tuple[int, ...], list[date]]]:
        """Each object's days a complete read holds: the days that have ended, from its creation (or the
        oldest day the API answers) to yesterday, in the stream's days (UTC for version 2, EST for 1)."""
        parents, version = METRIC_STREAMS[stream]
        zone = timezone.utc if version == 2 else EST
        yesterday = today_in(zone) - timedelta(days=1)
        oldest = today_in(zone) - timedelta(days=(MAX_METRIC_DAYS if version == 2 else V1_MAX_STEPS) - 1)
        for parent in self.live_parents(parents):
            first = max(oldest, datetime.fromtimestamp(int(parent["created"]), zone).date())
            days = [first + timedelta(days=i) for i in range((yesterday - first).days + 1)]
            if stream == "campaign_action_metrics":
                for ref in self.actions(parent):
                    yield (int(parent["id"]), int(ref["id"])), days
            else:
                yield (int(parent["id"]),), days

    def actions(self, campaign: Record) -> list[dict[str, Any]]:
        """The campaign's action references, less the actions deleted since."""
        pid = int(campaign["id"])
        return [
            ref for ref in campaign["actions"] if ("campaign_actions", f"{pid}|{ref['id']}") not in self._gone
        ]

    # mutations ------------------------------------------------------------------------------------------
    def _pick(self, stream: str, count: int) -> list[str]:
        """`parent|child` keys of `count` distinct children of live parents, drawn afresh each call."""
        self._mutations += 1
        draw = Draw(self.ctx.seed, salt(stream), 98, self._mutations)
        pairs = [f"{int(p['id'])}|{row['id']}" for p in self.live_parents(CHILD_STREAMS[stream])
                 for row in self.children(stream, p)]  # fmt: skip
        return [pairs[i] for i in draw.distinct_below(count, len(pairs))]

    def delete(self, stream: str, count: int, now: int) -> dict[str, Any]:
        with self._lock:
            picked = self._pick(stream, count)
            self._gone.update((stream, key) for key in picked)
            return {"keys": picked, "cursor": now}

    def mutate(self, stream: str, op: str, count: int, now: int) -> dict[str, Any]:
        if op != "update" or stream == "segment_memberships":
            raise ApiError(
                400, f"stream {stream!r} supports op 'update' only" if op != "update" else "not mutable"
            )
        with self._lock:
            if stream in CHILD_STREAMS:
                picked = self._pick(stream, count)
                for key in picked:
                    self._updated[(stream, key)] = now
                return {"keys": picked, "cursor": now}
            # Late opens and clicks: yesterday's counts grow.
            self._mutations += 1
            draw = Draw(self.ctx.seed, salt(stream), 98, self._mutations)
            objects = [ids for ids, days in self.metric_days(stream) if days]
            zone = timezone.utc if METRIC_STREAMS[stream][1] == 2 else EST
            day = today_in(zone) - timedelta(days=1)
            keys = []
            for i in draw.distinct_below(count, len(objects)):
                bump = (stream, objects[i], day.toordinal())
                self._bumps[bump] = self._bumps.get(bump, 0) + 7
                keys.append("|".join(map(str, objects[i])) + f"|{day.isoformat()}")
            return {"keys": keys, "cursor": day.isoformat()}


def today_in(zone: timezone) -> date:
    return datetime.now(zone).date()
