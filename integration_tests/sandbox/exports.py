"""Customer exports: `POST /v1/exports/customers`, polling, signed download URLs and the export file.

An export's file is written once, on disk, by a background thread while the export is pending, and cached
by everything it depends on (the filter, the attributes asked for, the file-shaping quirks, the people's data
version): a second export of the same people, or a benchmark that prepares the file before it starts its
clock (`/_admin/prepare_export`), finds it ready. The export turns done once its file is written and it has
been polled `ready_after_polls` times or `ready_after_seconds` have passed; `total` = people matching its
filter. The download URL, like the API's signed link, needs no Authorization header and expires after 15
minutes; the file is streamed from disk.

File quirks (quirks.py): no `cio_id` column, shuffled columns, extra columns, only the attributes asked for,
gzip with or without `Content-Encoding`, a UTF-8 byte-order mark, the last N people left out.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import hmac
import io
import shutil
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from .people import FILE_ATTRIBUTE_NAMES, People, Predicate
from .tables import Ctx, Record
from .util import ApiError, mix, salt

LINK_TTL = 15 * 60
CHUNK_BYTES = 1 << 18
BOM = b"\xef\xbb\xbf"
IDENTIFIER_COLUMNS = ("cio_id", "id", "email")
# Columns no document promises and the connector cannot know: they are not attributes.
EXTRA_COLUMNS = ("segment_ids", "exported_at")
_SEGMENTS_SHOWN = (7, 8, 9)


@dataclass(frozen=True)
class FileSpec:
    """Everything an export file's bytes depend on."""

    filters: str  # canonical JSON
    attributes: tuple[str, ...]
    cio_id_column: bool
    column_order: str
    extra_columns: bool
    only_asked_attributes: bool
    compression: str
    bom: bool
    drops_rows: int
    data_version: tuple[int, int, int]


@dataclass
class ExportFile:
    path: Path
    columns: list[str]
    rows: int  # data rows in the file
    total: int  # people the filter matched (the rows and those the `export_drops_rows` quirk left out)
    compression: str
    seconds: float  # how long writing it took


@dataclass
class Job:
    id: int
    created: int
    started: float
    filters: Any
    file: Future[ExportFile]
    polls: int = 0
    done_at: int | None = None
    total: int = 0
    failed: bool = False


class FileCache:
    """Each distinct export file, written once in a background thread into a folder removed with the cache."""

    def __init__(self) -> None:
        self._folder: Path | None = None  # made with the first file: most sandboxes export nothing
        self._files: dict[FileSpec, Future[ExportFile]] = {}
        self._lock = threading.Lock()

    def get(self, spec: FileSpec, write: Callable[[Path], ExportFile]) -> Future[ExportFile]:
        with self._lock:
            made = self._files.get(spec)
            if made is not None:
                return made
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="sandbox-exports-"))
                weakref.finalize(self, shutil.rmtree, self._folder, True)
            made = Future()
            self._files[spec] = made
            path = self._folder / f"export-{len(self._files)}.csv"

        def run() -> None:
            try:
                made.set_result(write(path))
            except BaseException as error:  # the export then reports itself failed
                made.set_exception(error)

        threading.Thread(target=run, name="sandbox-export-file", daemon=True).start()
        return made


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
        self._files = FileCache()

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
            "failed": job.failed,
            "status": "failed" if job.failed else "pending" if job.done_at is None else "done",
            "description": "Customers export created via the API",
            "downloads": self._downloads.get(i, 0),
            "created_at": job.created,
            "updated_at": updated,
        }

    def _settle(self, job: Job) -> None:
        with self._lock:
            if job.done_at is not None or not job.file.done():
                return
            ripe = time.monotonic() - job.started >= self.ready_after_seconds
            if job.polls >= self.ready_after_polls or ripe:
                error = job.file.exception()
                job.failed = error is not None
                job.total = 0 if error is not None else job.file.result().total
                job.done_at = max(int(time.time()), job.created)

    # lifecycle -------------------------------------------------------------------------------------------
    def spec(self, filters: Any, attributes: list[str] | None) -> FileSpec:
        q = self.people.quirks
        return FileSpec(
            filters=orjson.dumps(filters, option=orjson.OPT_SORT_KEYS).decode(),
            attributes=tuple(dict.fromkeys(attributes or ())),
            cio_id_column=q.export_cio_id_column,
            column_order=q.export_column_order,
            extra_columns=q.export_extra_columns,
            only_asked_attributes=q.export_attributes_only_when_asked,
            compression=q.export_compression,
            bom=q.export_bom,
            drops_rows=q.export_drops_rows,
            data_version=self.people.version,
        )

    def file_for(
        self, filters: Any, attributes: list[str] | None, predicate: Predicate
    ) -> Future[ExportFile]:
        spec = self.spec(filters, attributes)
        if spec.compression not in ("none", "gzip", "gzip_no_header"):
            raise ApiError(500, f"sandbox: unknown export_compression {spec.compression!r}")
        return self._files.get(spec, lambda path: self._write(spec, predicate, path))

    def register(
        self, index: int, filters: Any, attributes: list[str] | None, predicate: Predicate, now: int
    ) -> None:
        made = self.file_for(filters, attributes, predicate)
        self._jobs[index] = Job(index, now, time.monotonic(), filters, made)

    def prepare(self, filters: Any, attributes: list[str] | None, predicate: Predicate) -> dict[str, Any]:
        """Write (or find) the file an export of `filters` would have, before anyone asks for it."""
        started = time.monotonic()
        made = self.file_for(filters, attributes, predicate).result()
        return {
            "rows": made.rows,
            "total": made.total,
            "columns": made.columns,
            "bytes": made.path.stat().st_size,
            "seconds": round(time.monotonic() - started, 3),
            "write_seconds": round(made.seconds, 3),
        }

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
        return job.done_at is not None and not job.failed

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
    def download(self, index: int) -> tuple[Iterator[bytes], str, dict[str, str]]:
        """(body, content type, headers) of an export's file, streamed from disk."""
        with self._lock:
            self._downloads[index] = self._downloads.get(index, 0) + 1
        job = self._jobs.get(index)
        made = (job.file if job is not None else self.file_for(None, None, lambda p: True)).result()
        headers = {"Content-Encoding": "gzip"} if made.compression == "gzip" else {}
        kind = "application/gzip" if made.compression == "gzip_no_header" else "text/csv; charset=utf-8"
        return _chunks(made.path), kind, headers

    def columns(self, spec: FileSpec) -> list[str]:
        names = list(spec.attributes) if spec.only_asked_attributes else list(FILE_ATTRIBUTE_NAMES)
        names += [a for a in spec.attributes if a not in names and a not in IDENTIFIER_COLUMNS]
        columns = [c for c in IDENTIFIER_COLUMNS if c != "cio_id" or spec.cio_id_column]
        columns += [*names, *(EXTRA_COLUMNS if spec.extra_columns else ())]
        if spec.column_order == "shuffled":
            shuffled = sorted(columns, key=lambda c: mix(self.ctx.seed, salt(c)))
            columns = shuffled if shuffled != columns else columns[::-1]
        elif spec.column_order != "fixed":
            raise ValueError(f"sandbox: unknown export_column_order {spec.column_order!r}")
        return columns

    def _write(self, spec: FileSpec, predicate: Predicate, path: Path) -> ExportFile:
        started = time.monotonic()
        people = self.people
        gone = people.deleted()
        columns = self.columns(spec)
        exported_at = str(self.ctx.anchor)
        held_back: deque[list[str]] = deque()
        matched = 0
        with open(path, "wb") as raw:
            out: BinaryIO = raw
            if spec.compression != "none":
                out = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0)  # type: ignore[assignment]
            if spec.bom:
                out.write(BOM)
            text = io.TextIOWrapper(out, encoding="utf-8", newline="")
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(columns)
            for p in range(people.count):
                if p in gone or not predicate(p):
                    continue
                ident = people.identity(p)
                attrs, _ = people.custom_attributes(p)
                people.note_presence(p, attrs)
                values: dict[str, Any] = {
                    **attrs,
                    "cio_id": ident["cio_id"],
                    "id": ident["id"],
                    "email": ident["email"],
                }
                if spec.extra_columns:
                    values["segment_ids"] = ";".join(
                        str(s) for s in _SEGMENTS_SHOWN if people.in_segment(s, p)
                    )
                    values["exported_at"] = exported_at
                row = [values.get(c) or "" for c in columns]
                matched += 1
                if spec.drops_rows:
                    held_back.append(row)
                    if len(held_back) <= spec.drops_rows:
                        continue
                    row = held_back.popleft()
                writer.writerow(row)
            text.flush()
            text.detach()
            if out is not raw:
                out.close()
        return ExportFile(
            path,
            columns,
            matched - len(held_back),
            matched,
            spec.compression,
            time.monotonic() - started,
        )


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            yield chunk
