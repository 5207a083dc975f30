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

from collections.abc import Iterable, Mapping
from typing import Any

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.core import StreamData

from source_customerio.config import CustomersMethod
from source_customerio.errors import StreamForbiddenError
from source_customerio.streams.base import CustomerioStream
from source_customerio.streams.customer_export import CustomerExport
from source_customerio.streams.people_search import SEARCH_PAGE_SIZE, SearchPipeline, cio_ids_of

# `cio_id` alone may not be filterable in every workspace; any person has at least one of these.
EVERYONE = {
    "or": [
        {"attribute": {"field": "cio_id", "operator": "exists"}},
        {"attribute": {"field": "id", "operator": "exists"}},
        {"attribute": {"field": "email", "operator": "exists"}},
    ]
}
COMPLETE = {"__ab_full_refresh_sync_complete": True}
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
        try:
            yield from super().read_records(sync_mode, cursor_field, stream_slice, stream_state)
        except BaseException:
            self._close_search()
            raise
        if self.forbidden:
            # The CDK asks for slices until the state says complete.
            self.state = dict(COMPLETE)

    def probe_target(self) -> tuple[str, str, dict[str, Any], dict[str, Any] | None]:
        return "POST", "customers", {"limit": 1}, {"filter": EVERYONE}

    def read_stream(self, sync_mode: SyncMode, stream_slice: Mapping[str, Any]) -> Iterable[StreamData]:
        resume = self._usable_resume(stream_slice)
        if "export_id" in resume:
            yield from self._read_export(resume["export_id"], resume["rows_done"])
            return
        if "search_start" in resume:
            yield from self._read_search_page(resume["search_start"])
            return
        method = self.context.config.customers_method
        first_page = None
        if method == CustomersMethod.AUTO:
            # One search page tells whether the workspace is small enough to hydrate directly.
            first_page = self._search(None)
            if not (isinstance(first_page, dict) and first_page.get("next") and cio_ids_of(first_page)):
                yield from self._read_search_page(None, first_page)
                return
            method = CustomersMethod.EXPORTS
        if method == CustomersMethod.EXPORTS:
            try:
                export_id = self._exporter().start(EVERYONE)
            except StreamForbiddenError as forbidden:
                self.logger.warning(
                    "Stream 'customers': the App API key may not start a customer export "
                    f"({forbidden.detail}); reading people by search instead, which is slower. Give the "
                    "key export access to use exports."
                )
                yield from self._read_search_page(None, first_page)
                return
            yield from self._read_export(export_id, 0)
        else:
            yield from self._read_search_page(None)

    def _usable_resume(self, stream_slice: Mapping[str, Any]) -> dict[str, Any]:
        """The slice's resume point when its types are right; else a warning and a fresh start."""
        if "export_id" in stream_slice:
            try:
                export_id, rows_done = int(stream_slice["export_id"]), int(stream_slice.get("rows_done", 0))
                if export_id > 0 and rows_done >= 0:
                    return {"export_id": export_id, "rows_done": rows_done}
            except (TypeError, ValueError):
                pass
        elif "search_start" in stream_slice:
            if isinstance(stream_slice["search_start"], str) and stream_slice["search_start"]:
                return {"search_start": stream_slice["search_start"]}
        else:
            return {}
        self.logger.warning(
            f"Stream 'customers': saved state {dict(stream_slice)!r} is unusable; reading all people again."
        )
        return {}

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

    def _search(self, start: str | None) -> Any:
        params: dict[str, Any] = {"limit": SEARCH_PAGE_SIZE}
        if start:
            params["start"] = start
        return self.request("customers", params, json={"filter": EVERYONE}, method="POST")

    def _hydrate(self, cio_ids: list[str]) -> list[Any]:
        payload = self.request(
            "customers/attributes", {"id_type": "cio_id"}, json={"ids": cio_ids}, method="POST"
        )
        people = payload.get("customers") if isinstance(payload, dict) else None
        return people if isinstance(people, list) else []

    def _read_search_page(self, start: str | None, first_page: Any = None) -> Iterable[StreamData]:
        pipeline: SearchPipeline | None = getattr(self, "_pipeline", None)
        if pipeline is None or pipeline.expected_start != start:
            self._close_search()
            pipeline = SearchPipeline(self._search, self._hydrate, start, first_page)
            self._pipeline: SearchPipeline | None = pipeline
        page = pipeline.next_page()
        normalize = self.normalize
        for future in page.hydrations:
            people = future.result()
            for item in people:
                record = person_record(item) if isinstance(item, Mapping) else None
                if record is not None:
                    yield normalize(record)
            self.progress.add(len(people))
        if page.next_start:
            self.state = {"search_start": page.next_start}
        else:
            self.state = dict(COMPLETE)
            self._close_search()

    def _close_search(self) -> None:
        pipeline = getattr(self, "_pipeline", None)
        if pipeline is not None:
            pipeline.close()
            self._pipeline = None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
