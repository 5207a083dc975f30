"""Customer exports: `POST /v1/exports/customers`, polling, signed download URLs and a streamed CSV.

An export is pending until it has been polled `ready_after_polls` times or `ready_after_seconds` have passed,
then done, with `total` = people matching its filter. The download URL, like the API's signed link, needs
no Authorization header and expires after 15 minutes; the CSV is generated row by row while it is sent.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .people import ATTRIBUTE_NAMES, People, Predicate
from .tables import Ctx, Record
from .util import ApiError

LINK_TTL = 15 * 60
ROWS_PER_CHUNK = 500


@dataclass
class Job:
    id: int
    created: int
    started: float
    filters: Any
    predicate: Predicate
    polls: int = 0
    done_at: int | None = None
    total: int = 0


class Exports:
    def __init__(self, ctx: Ctx, people: People, base_count: int, secret: bytes) -> None:
        self.ctx = ctx
        self.people = people
        self.base_count = base_count
        self.ready_after_polls = 3
        self.ready_after_seconds = 1.0
        self._secret = secret
        self._jobs: dict[int, Job] = {}  # by table index
        self._downloads: dict[int, int] = {}
        self._lock = threading.Lock()

    # records -----------------------------------------------------------------------------------------
    def build(self, i: int, born: int | None) -> Record:
        job = self._jobs.get(i)
        if job is not None:
            return self._job_record(i, job)
        d = self.ctx.draw("exports", i)
        created, updated = self.ctx.times(d, born)
        eid = 110 + i
        failed = i == 1
        return {
            "id": eid,
            "user_id": d.below(5),
            "user_email": "person@example.com",
            "total": 0 if failed else self.people.base_count,
            "deduplicate_id": f"{eid}:{updated}",
            "type": "customers" if d.chance(0.7) else "deliveries",
            "failed": failed,
            "status": "failed" if failed else "done",
            "description": "Customers with segment filters",
            "downloads": self._downloads.get(i, d.below(4)),
            "created_at": created,
            "updated_at": updated,
        }

    def _job_record(self, i: int, job: Job) -> Record:
        self._settle(job)
        updated = job.done_at or job.created
        eid = 110 + i
        return {
            "id": eid,
            "user_id": 0,
            "user_email": "api@example.com",
            "total": job.total,
            "deduplicate_id": f"{eid}:{updated}",
            "type": "customers",
            "failed": False,
            "status": "pending" if job.done_at is None else "done",
            "description": "Customers export created via the API",
            "downloads": self._downloads.get(i, 0),
            "created_at": job.created,
            "updated_at": updated,
        }

    def _settle(self, job: Job) -> None:
        with self._lock:
            if job.done_at is not None:
                return
            ripe = time.monotonic() - job.started >= self.ready_after_seconds
            if job.polls >= self.ready_after_polls or ripe:
                job.total = sum(1 for p in range(self.people.count) if job.predicate(p))
                job.done_at = max(int(time.time()), job.created)

    # lifecycle -------------------------------------------------------------------------------------------
    def register(self, index: int, filters: Any, predicate: Predicate, now: int) -> None:
        self._jobs[index] = Job(index, now, time.monotonic(), filters, predicate)

    def poll(self, index: int) -> None:
        job = self._jobs.get(index)
        if job is not None:
            with self._lock:
                job.polls += 1

    def is_done(self, index: int) -> bool:
        job = self._jobs.get(index)
        if job is None:
            return index != 1  # base export 1 is the failed one
        self._settle(job)
        return job.done_at is not None

    def predicate(self, index: int) -> Predicate:
        job = self._jobs.get(index)
        return job.predicate if job is not None else (lambda p: True)

    # signed links ----------------------------------------------------------------------------------------
    def _sign(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()[:32]

    def token(self, index: int, now: int) -> str:
        payload = f"{index}:{now + LINK_TTL}"
        encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return f"{encoded}.{self._sign(payload)}"

    def verify(self, token: str, now: int) -> int:
        try:
            encoded, sig = token.split(".", 1)
            payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            index_s, expires_s = payload.split(":")
            index, expires = int(index_s), int(expires_s)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(403, "AccessDenied: malformed signature") from exc
        if not hmac.compare_digest(sig, self._sign(payload)):
            raise ApiError(403, "AccessDenied: signature does not match")
        if now > expires:
            raise ApiError(403, "AccessDenied: Request has expired")
        return index

    # the file --------------------------------------------------------------------------------------------
    def csv_chunks(self, index: int) -> Iterator[bytes]:
        with self._lock:
            self._downloads[index] = self._downloads.get(index, 0) + 1
        predicate = self.predicate(index)
        people = self.people
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["cio_id", "id", "email", *ATTRIBUTE_NAMES])
        rows = 0
        for p in range(people.count):
            if not predicate(p):
                continue
            ident = people.identity(p)
            attrs, _ = people.custom_attributes(p)
            writer.writerow(
                [
                    ident["cio_id"],
                    ident["id"] or "",
                    ident["email"] or "",
                    *(attrs.get(a, "") for a in ATTRIBUTE_NAMES),
                ]
            )
            rows += 1
            if rows % ROWS_PER_CHUNK == 0:
                yield buf.getvalue().encode()
                buf.seek(0)
                buf.truncate()
        if buf.tell():
            yield buf.getvalue().encode()
