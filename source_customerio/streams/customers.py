"""People (`customers`): search for everyone, then hydrate their attributes 100 at a time.

There is no "list people" endpoint. `POST /v1/customers` searches with a filter (1,000 identifiers a
page, `next` cursor); `POST /v1/customers/attributes` returns up to 100 people by id. Hydrating by
`cio_id` (`id_type=cio_id`) keeps people that have no `id` (email-only profiles), which a search on
`id exists` and hydration by `id` would lose.

The read is a resumable full refresh: one search page per CDK slice, state `{"search_start": next}`
after each page, so an interrupted sync resumes at the page it was on. While a page's ten
hydrations are in flight, the next search page is fetched too.

Large workspaces read faster through a customer export (customer_export.py): state
`{"export_id": id, "rows_done": n}` every EXPORT_ROWS_PER_SLICE people. `customers_method: auto`
searches first and switches to an export when there is more than one search page.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.core import StreamData

from source_customerio.config import CustomersMethod
from source_customerio.http.pagination import CursorPagination
from source_customerio.streams.base import CustomerioStream
from source_customerio.streams.customer_export import CustomerExport

SEARCH_PAGE_SIZE = 1000
HYDRATE_BATCH = 100
# `cio_id` alone may not be filterable in every workspace; any person has at least one of these.
EVERYONE = {
    "or": [
        {"attribute": {"field": "cio_id", "operator": "exists"}},
        {"attribute": {"field": "id", "operator": "exists"}},
        {"attribute": {"field": "email", "operator": "exists"}},
    ]
}
COMPLETE = {"__ab_full_refresh_sync_complete": True}
WORKERS = 11
EXPORT_ROWS_PER_SLICE = 20_000


def person_record(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """One flat record per person, from an item that may be wrapped as {"customer": {...}}."""
    wrapped = item.get("customer")
    person = dict(wrapped if isinstance(wrapped, Mapping) else item)
    identifiers = _mapping(person.get("identifiers"))
    attributes = _mapping(person.get("attributes"))
    cio_id = identifiers.get("cio_id") or attributes.get("cio_id") or person.get("cio_id")
    if cio_id in (None, ""):
        return None
    person["cio_id"] = str(cio_id)
    person["id"] = person.get("id") or identifiers.get("id") or attributes.get("id") or None
    person["email"] = person.get("email") or identifiers.get("email") or attributes.get("email") or None
    return person


class Customers(CustomerioStream):
    """https://docs.customer.io/integrations/api/app/tag/customers/getPeopleFilter/"""

    primary_key = "cio_id"
    resumable = True

    @property
    def name(self) -> str:
        return "customers"

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[StreamData]:
        yield from super().read_records(sync_mode, cursor_field, stream_slice, stream_state)
        if self.forbidden:
            # The CDK asks for slices until the state says complete.
            self.state = dict(COMPLETE)

    def probe_target(self) -> tuple[str, str, dict[str, Any], dict[str, Any] | None]:
        return "POST", "customers", {"limit": 1}, {"filter": EVERYONE}

    # -- search and hydrate ----------------------------------------------------------------------

    def _executor(self) -> ThreadPoolExecutor:
        if not hasattr(self, "_pool"):
            self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="customers")
            self._paginator = CursorPagination(SEARCH_PAGE_SIZE)
            self._next_search: tuple[str | None, Future[Any]] | None = None
        return self._pool

    def _search(self, start: str | None) -> Any:
        params: dict[str, Any] = {"limit": SEARCH_PAGE_SIZE}
        if start:
            params["start"] = start
        return self.request("customers", params, json={"filter": EVERYONE}, method="POST")

    def _search_page(self, start: str | None) -> Any:
        pending = self._next_search
        self._next_search = None
        if pending is not None and pending[0] == start:
            return pending[1].result()
        return self._search(start)

    def _hydrate(self, cio_ids: list[str]) -> list[Any]:
        payload = self.request(
            "customers/attributes", {"id_type": "cio_id"}, json={"ids": cio_ids}, method="POST"
        )
        people = payload.get("customers") if isinstance(payload, dict) else None
        return people if isinstance(people, list) else []

    def read_stream(self, sync_mode: SyncMode, stream_slice: Mapping[str, Any]) -> Iterable[StreamData]:
        if "export_id" in stream_slice:
            yield from self._read_export(
                int(stream_slice["export_id"]), int(stream_slice.get("rows_done", 0))
            )
            return
        if "search_start" in stream_slice:
            yield from self._read_search_page(stream_slice["search_start"])
            return
        method = self.context.config.customers_method
        first_page = None
        if method == CustomersMethod.AUTO:
            # One search page tells whether the workspace is small enough to hydrate directly.
            first_page = self._search(None)
            if not (isinstance(first_page, dict) and first_page.get("next") and _cio_ids(first_page)):
                yield from self._read_search_page(None, first_page)
                return
            method = CustomersMethod.EXPORTS
        if method == CustomersMethod.EXPORTS:
            yield from self._read_export(self._exporter().start(EVERYONE), 0)
        else:
            yield from self._read_search_page(None)

    # -- export ----------------------------------------------------------------------------------

    def _exporter(self) -> CustomerExport:
        if not hasattr(self, "_export_client"):
            self._export_client = CustomerExport(
                self.request,
                self.logger,
                timeout_seconds=self.context.config.export_timeout_minutes * 60,
                download_timeout=self.context.request_timeout,
            )
        return self._export_client

    def _read_export(self, export_id: int, rows_done: int) -> Iterable[StreamData]:
        open_rows = getattr(self, "_export_rows", None)
        if open_rows is None or open_rows[0] != export_id or open_rows[1] != rows_done:
            export = self._exporter().wait_until_done(export_id)
            if export is None:
                self.logger.warning(f"Stream 'customers': export {export_id} is gone; starting a new one.")
                export_id, rows_done = self._exporter().start(EVERYONE), 0
                export = self._exporter().wait_until_done(export_id) or {}
            if isinstance(export.get("total"), int):
                self.progress.expected = export["total"]
            open_rows = (export_id, rows_done, self._exporter().rows(export_id, skip=rows_done))
        rows = open_rows[2]
        normalize, emitted = self.normalize, 0
        for person in rows:
            yield normalize(person)
            emitted += 1
            if emitted == EXPORT_ROWS_PER_SLICE:
                break
        self.progress.add(emitted)
        if emitted < EXPORT_ROWS_PER_SLICE:
            self._export_rows = None
            self.state = dict(COMPLETE)
        else:
            self._export_rows = (export_id, rows_done + emitted, rows)
            self.state = {"export_id": export_id, "rows_done": rows_done + emitted}

    # -- search ----------------------------------------------------------------------------------

    def _read_search_page(self, start: str | None, page: Any = None) -> Iterable[StreamData]:
        pool = self._executor()
        page = self._search_page(start) if page is None else page
        cio_ids = _cio_ids(page)
        following = self._paginator.next_params(page, len(cio_ids))
        next_start = following["start"] if following else None
        if next_start:
            self._next_search = (next_start, pool.submit(self._search, next_start))
        batches = [cio_ids[i : i + HYDRATE_BATCH] for i in range(0, len(cio_ids), HYDRATE_BATCH)]
        yield from self._hydrated(pool.submit(self._hydrate, batch) for batch in batches)
        if next_start:
            self.state = {"search_start": next_start}
        else:
            self.state = dict(COMPLETE)
            pool.shutdown(wait=False)
            del self._pool

    def _hydrated(self, batches: Iterator[Future[list[Any]]]) -> Iterator[StreamData]:
        normalize = self.normalize
        for future in list(batches):
            people = future.result()
            for item in people:
                record = person_record(item) if isinstance(item, Mapping) else None
                if record is not None:
                    yield normalize(record)
            self.progress.add(len(people))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _cio_ids(page: Any) -> list[str]:
    if not isinstance(page, dict):
        return []
    identifiers = page.get("identifiers")
    if isinstance(identifiers, list):
        return [
            str(i["cio_id"]) for i in identifiers if isinstance(i, dict) and i.get("cio_id") not in (None, "")
        ]
    return []
