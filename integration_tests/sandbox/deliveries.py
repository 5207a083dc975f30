"""Deliveries (`GET /v1/messages`): created times are a monotonic function of the index.

History runs from two years before the sandbox's start to a minute before it, in two stretches with a
360-day hole between them (days 0-200 and 560-730, each with a delivery at both ends): any tiling by 180-day
windows has an empty window in the middle and non-empty ones on both sides (four of five when tiled from the
first delivery), so a connector that stops at the first empty window, or forgets to window at all (the API
then returns only 6 months), loses records.

Because `created(i)` is monotonic, a [start_ts, end_ts] window maps to an index range by binary search,
and a million deliveries cost nothing until a page is served. Inserted deliveries are appended with
created = now, which keeps the sequence monotonic.

Drift: every ninth delivery (index % 9 == 4) sends `customer_identifiers.cio_id` as an integer.

Pinned deliveries (`pin`) sit at exactly the times a test names, e.g. on the seconds where a connector's
windows meet; they live beside the monotonic sequence, so a window is that sequence's index range plus
the pinned deliveries inside it (`window_span`).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from .people import People
from .tables import Ctx, Record
from .util import DAY, SIX_MONTHS, Draw, b64_id, salt

_SALT = salt("deliveries")
HISTORY_DAYS = 730
OLD_STRETCH = (0, 200)  # days after the earliest delivery
NEW_STRETCH = (560, HISTORY_DAYS)


# Pinned deliveries' indices start here, far above any generated or inserted one.
PINNED_BASE = 1 << 40


def window(
    start_ts: int | None,
    end_ts: int | None,
    now: int,
    start_exclusive: bool = False,
    end_exclusive: bool = False,
) -> tuple[int, int]:
    """The API's 6-month rule for /v1/messages, on creation time, as inclusive bounds.

    Whether a given `start_ts` / `end_ts` is itself inside is not documented: inclusive by default,
    exclusive under Quirks.start_ts_exclusive / Quirks.end_ts_exclusive.
    """
    if start_ts is None and end_ts is None:
        return now - SIX_MONTHS, now
    if start_ts is None:
        assert end_ts is not None
        hi = end_ts - 1 if end_exclusive else end_ts
        return end_ts - SIX_MONTHS, hi
    lo = start_ts + 1 if start_exclusive else start_ts
    if end_ts is None:
        return lo, min(now, start_ts + SIX_MONTHS)
    hi = end_ts - 1 if end_exclusive else end_ts
    return lo, min(hi, start_ts + SIX_MONTHS)


class Deliveries:
    def __init__(self, ctx: Ctx, count: int, people: People, parents: dict[str, int]) -> None:
        self.ctx = ctx
        self.people = people
        self.parents = parents
        self.base_count = count
        self.earliest = ctx.anchor - HISTORY_DAYS * DAY
        self._n_old = count * 35 // 100
        self._n_new = count - self._n_old
        self._old = (self.earliest + OLD_STRETCH[0] * DAY, (OLD_STRETCH[1] - OLD_STRETCH[0]) * DAY)
        new_start = self.earliest + NEW_STRETCH[0] * DAY
        self._new = (new_start, ctx.anchor - 60 - new_start)
        self._inserted: list[int] = []
        self._updates: dict[int, int] = {}
        self._pinned: list[int] = []  # created time of pinned delivery j (index PINNED_BASE + j)
        self._pinned_sorted: list[tuple[int, int]] = []  # (created, j)
        self._lock = threading.Lock()
        self._mutations = 0

    @property
    def count(self) -> int:
        return self.sequence_count + len(self._pinned)

    @property
    def sequence_count(self) -> int:
        """Generated and inserted deliveries: the monotonic sequence."""
        return self.base_count + len(self._inserted)

    def indices(self) -> Iterator[int]:
        yield from range(self.sequence_count)
        yield from (PINNED_BASE + j for j in range(len(self._pinned)))

    def pin(self, times: Iterable[int]) -> list[int]:
        """Deliveries created at exactly these unix times; their indices."""
        with self._lock:
            added = []
            for created in times:
                j = len(self._pinned)
                self._pinned.append(int(created))
                bisect.insort(self._pinned_sorted, (int(created), j))
                added.append(PINNED_BASE + j)
            return added

    def window_span(self, lo_ts: int, hi_ts: int) -> dict[str, int]:
        """A window's deliveries (lo_ts <= created <= hi_ts) as a cursor-friendly span: the sequence's
        index range [g, g + G) followed by pinned deliveries [s, s + P) of the sorted pinned list."""
        g, g_end = self.index_range(lo_ts, hi_ts)
        s = bisect.bisect_left(self._pinned_sorted, (lo_ts, -1))
        s_end = bisect.bisect_right(self._pinned_sorted, (hi_ts, 1 << 62))
        return {"g": g, "G": g_end - g, "s": s, "P": max(0, s_end - s)}

    def in_span(self, span: dict[str, int], v: int) -> int:
        """The index of the v-th delivery of a window span."""
        if v < span["G"]:
            return span["g"] + v
        return PINNED_BASE + self._pinned_sorted[span["s"] + v - span["G"]][1]

    def first_created(self) -> int | None:
        times = ([self.created(0)] if self.sequence_count else []) + self._pinned
        return min(times) if times else None

    def last_created(self) -> int | None:
        n = self.sequence_count
        times = ([self.created(n - 1)] if n else []) + self._pinned
        return max(times) if times else None

    def created(self, i: int) -> int:
        if i >= PINNED_BASE:
            return self._pinned[i - PINNED_BASE]
        if i < self._n_old:
            return self._old[0] + (i * self._old[1]) // max(self._n_old - 1, 1)
        if i < self.base_count:
            return self._new[0] + ((i - self._n_old) * self._new[1]) // max(self._n_new - 1, 1)
        return self._inserted[i - self.base_count]

    def _first_at_or_after(self, ts: int, n: int) -> int:
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) // 2
            if self.created(mid) < ts:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def index_range(self, lo_ts: int, hi_ts: int) -> tuple[int, int]:
        """Sequence indices [lo, hi) with lo_ts <= created <= hi_ts."""
        n = self.sequence_count
        if hi_ts < lo_ts:
            return 0, 0
        return self._first_at_or_after(lo_ts, n), self._first_at_or_after(hi_ts + 1, n)

    def key(self, i: int) -> str:
        return b64_id(self.ctx.seed, _SALT, i)

    def record(self, i: int) -> Record:
        d = Draw(self.ctx.seed, _SALT, i)
        created = self.created(i)
        person_index = d.below(max(self.people.base_count, 1))
        who: dict[str, Any] = dict(self.people.identity(person_index))
        if i % 9 == 4:
            who["cio_id"] = int(who["cio_id"])
        email = who["email"]
        kind = "email" if email is not None and d.chance(0.85) else d.choice(("push", "twilio", "webhook"))
        did = self.key(i)
        rec: Record = {
            "id": did,
            "deduplicate_id": "",
            "msg_template_id": 0,
            "message_template_id": 0,
            "customer_id": who["id"],
            "customer_identifiers": who,
            "recipient": email if kind == "email" else f"+1555{person_index:07d}" if kind == "twilio" else "",
            "subject": f"Hello from {d.choice(('Team', 'Billing', 'News'))}" if kind == "email" else None,
            "metrics": self._metrics(d, created, kind),
            "created": created,
            "failure_message": None,
            "campaign_id": None,
            "action_id": None,
            "parent_action_id": None,
            "newsletter_id": None,
            "content_id": None,
            "broadcast_id": None,
            "trigger_event_id": None,
            "type": kind,
            "forgotten": d.chance(0.02),
        }
        self._parent(d, rec)
        if "bounced" in rec["metrics"]:
            rec["failure_message"] = "550 5.1.1 The email account that you tried to reach does not exist"
        bumped = self._updates.get(i)
        if bumped is not None:
            rec["metrics"]["opened"] = bumped
            rec["metrics"]["human_opened"] = bumped
        rec["deduplicate_id"] = f"{did}:{max(rec['metrics'].values())}"
        return rec

    def _metrics(self, d: Draw, created: int, kind: str) -> dict[str, int]:
        cap = max(self.ctx.anchor, created)
        metrics = {"created": created}
        if d.chance(0.03):
            metrics["failed" if kind != "email" else "bounced"] = min(cap, created + d.below(600))
            return metrics
        sent = min(cap, created + d.below(300))
        metrics["sent"] = sent
        if kind != "email":
            return metrics
        delivered = min(cap, sent + d.below(120))
        metrics["delivered"] = delivered
        if d.chance(0.4):
            metrics["opened"] = min(cap, delivered + d.below(DAY))
            if d.chance(0.4):
                metrics["clicked"] = min(cap, metrics["opened"] + d.below(3600))
        return metrics

    def _parent(self, d: Draw, rec: Record) -> None:
        p = self.parents
        roll = d.below(100)
        if roll < 50 and p["campaigns"]:
            cid = 15 + d.below(p["campaigns"])
            rec.update(campaign_id=cid, action_id=cid * 100 + 1, msg_template_id=cid * 100 + 1)
        elif roll < 70 and p["newsletters"]:
            nid = 128270 + d.below(p["newsletters"])
            rec.update(newsletter_id=nid, content_id=nid * 10)
        elif roll < 85 and p["broadcasts"]:
            bid = 2 + d.below(p["broadcasts"])
            rec.update(broadcast_id=bid, action_id=bid * 100 + 1, trigger_event_id=d.below(1 << 20))
        elif p["transactional_messages"]:
            tid = 1 + d.below(p["transactional_messages"])
            rec.update(msg_template_id=tid, message_template_id=tid)
        rec["message_template_id"] = rec["msg_template_id"]

    def insert(self, n: int, now: int) -> list[int]:
        with self._lock:
            start = self.sequence_count
            last = self._inserted[-1] if self._inserted else now
            self._inserted.extend([max(now, last)] * n)
            return list(range(start, start + n))

    def update(self, n: int, now: int) -> list[int]:
        """Deliveries have no updated_at; an update records a new open (metrics.opened) at `now`."""
        with self._lock:
            self._mutations += 1
            d = Draw(self.ctx.seed, _SALT, 99, self._mutations)
            picked = d.distinct_below(n, self.sequence_count)
            for i in picked:
                self._updates[i] = now
            return picked
