"""People (`customers`): search for everyone, then hydrate their attributes 100 at a time; or read one
customer export.

There is no "list people" endpoint. `POST /v1/customers` searches with a filter (1,000 identifiers a
page, `next` cursor); `POST /v1/customers/attributes` returns up to 100 people by id. Hydrating by
`cio_id` (`id_type=cio_id`) keeps people that have no `id` (email-only profiles), which a search on
`id exists` and hydration by `id` would lose.

The read is a resumable full refresh, one slice at a time:
- search: one search page per slice, state `{"search_start": next}` after each page (with
  `"search_filter": "id_or_email"` once Customer.io refused the filter naming cio_id, people_filter.py).
  While a page's ten hydrations are in flight, the next search page is fetched too.
- export (people_export.py): the file is downloaded and checked before its first record, then read
  EXPORT_ROWS_PER_SLICE rows a slice, state `{"export_id": id, "rows_done": n}`.
`customers_method: auto` searches first and switches to an export when there is more than one search
page; when the export does not check out, it reads by search instead, with a warning giving the numbers
(`exports` fails with them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any

from airbyte_cdk.models import FailureType, StreamDescriptor, SyncMode
from airbyte_cdk.sources.streams.core import StreamData
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_customerio.config import CustomersMethod
from source_customerio.errors import RequestRefusedError, StreamForbiddenError, config_error
from source_customerio.records import in_batches
from source_customerio.streams.attribute_columns import AttributeColumns
from source_customerio.streams.base import CustomerioStream, StreamContext
from source_customerio.streams.customer_export import CustomerExport
from source_customerio.streams.normalize import RecordNormalizer
from source_customerio.streams.people_export import ExportMismatchError, ExportReader
from source_customerio.streams.people_filter import EVERYONE, FILTERS, ID_OR_EMAIL, PeopleFilter
from source_customerio.streams.people_sample import discover_columns
from source_customerio.streams.people_search import SEARCH_PAGE_SIZE, Hydrator, SearchPipeline, cio_ids_of

__all__ = ["COMPLETE", "EVERYONE", "EXPORT_ROWS_PER_SLICE", "ID_OR_EMAIL", "Customers"]

COMPLETE = {"__ab_full_refresh_sync_complete": True}
EXPORT_ROWS_PER_SLICE = 20_000


class Customers(CustomerioStream):
    """https://docs.customer.io/integrations/api/app/tag/customers/getPeopleFilter/"""

    primary_key = "cio_id"
    resumable = True

    def __init__(self, context: StreamContext, attribute_columns: AttributeColumns | None = None) -> None:
        super().__init__(context)
        self._schema: Mapping[str, Any] | None = None
        self.attribute_columns = attribute_columns or AttributeColumns()

    @property
    def name(self) -> str:
        return "customers"

    # -- typed attribute columns (attribute_columns.py) ------------------------------------------

    @property
    def attribute_columns(self) -> AttributeColumns:
        return self._attribute_columns

    @attribute_columns.setter
    def attribute_columns(self, columns: AttributeColumns) -> None:
        self._attribute_columns = columns
        self._schema = None

    def get_json_schema(self) -> Mapping[str, Any]:  # type: ignore[override]  # the CDK caches it by lru_cache
        # The CDK asks for the schema once per record: it is built once per set of columns.
        if self._schema is None:
            base = super().get_json_schema()
            self._schema = {
                **base,
                "properties": {**base["properties"], **self._attribute_columns.properties()},
            }
        return self._schema

    @cached_property
    def normalize(self) -> RecordNormalizer:
        # The record's own fields only: typed columns are set from `attributes` after it.
        return RecordNormalizer(super().get_json_schema())

    def discover_attribute_columns(self) -> None:
        """discover only, never check or read (people_sample.py)."""
        self.attribute_columns = discover_columns(self._search, self._fetch_people, self.logger)

    # -- collaborators ---------------------------------------------------------------------------

    @cached_property
    def people_filter(self) -> PeopleFilter:
        return PeopleFilter(self.logger)

    @cached_property
    def hydrator(self) -> Hydrator:
        return Hydrator(self._fetch_people)

    @cached_property
    def exporter(self) -> CustomerExport:
        return CustomerExport(
            self.request,
            self.logger,
            timeout_seconds=self.context.config.export_timeout_minutes * 60,
            download_timeout=self.context.request_timeout,
        )

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
            self._close()
            raise
        if self.forbidden:
            # The CDK asks for slices until the state says complete.
            self.state = dict(COMPLETE)

    def probe(self) -> str | None:
        for people_filter in (EVERYONE, ID_OR_EMAIL):
            try:
                self.request(
                    "customers",
                    {"limit": 1},
                    json={"filter": people_filter},
                    method="POST",
                    allow_missing=True,
                )
            except StreamForbiddenError as forbidden:
                return forbidden.detail
            except RequestRefusedError:
                continue
            return None
        return None

    def read_stream(self, sync_mode: SyncMode, stream_slice: Mapping[str, Any]) -> Iterable[StreamData]:
        resume = self._usable_resume(stream_slice)
        if "export_id" in resume:
            yield from self._read_export(resume["export_id"], resume["rows_done"])
            return
        if "search_start" in resume:
            self.people_filter.name = resume.get("search_filter", "everyone")
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
                export_id = self._start_export()
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
            start, people_filter = stream_slice["search_start"], stream_slice.get("search_filter", "everyone")
            if (
                isinstance(start, str)
                and start
                and isinstance(people_filter, str)
                and people_filter in FILTERS
            ):
                return {"search_start": start, "search_filter": people_filter}
        else:
            return {}
        self.logger.warning(
            f"Stream 'customers': saved state {dict(stream_slice)!r} is unusable; reading all people again."
        )
        return {}

    def _close(self) -> None:
        self._close_search()
        self._close_export()

    # -- requests --------------------------------------------------------------------------------

    def _search_with(self, people_filter: dict[str, Any], start: str | None) -> Any:
        params: dict[str, Any] = {"limit": SEARCH_PAGE_SIZE}
        if start:
            params["start"] = start
        return self.request("customers", params, json={"filter": people_filter}, method="POST")

    def _search(self, start: str | None) -> Any:
        """One page of the match-everyone search; a refused filter is replaced once (people_filter.py)."""
        sent = self.people_filter.current
        try:
            return self._search_with(sent, start)
        except RequestRefusedError as refused:
            if start is not None or not self.people_filter.refused(refused, sent):
                raise
        return self._search_with(self.people_filter.current, None)

    def _start_export(self) -> int:
        sent = self.people_filter.current
        try:
            return self.exporter.start(sent)
        except RequestRefusedError as refused:
            if not self.people_filter.refused(refused, sent):
                raise
        return self.exporter.start(self.people_filter.current)

    def _fetch_people(self, ids: list[str], id_type: str) -> list[Any]:
        payload = self.request("customers/attributes", {"id_type": id_type}, json={"ids": ids}, method="POST")
        people = payload.get("customers") if isinstance(payload, dict) else None
        return people if isinstance(people, list) else []

    # -- export ----------------------------------------------------------------------------------

    def _read_export(self, export_id: int, rows_done: int) -> Iterable[StreamData]:
        reader: ExportReader | None = getattr(self, "_export", None)
        if reader is None or reader.export_id != export_id or reader.position != rows_done:
            self._close_export()
            try:
                reader = self._open_export(export_id, rows_done)
            except ExportMismatchError as mismatch:
                yield from self._export_mismatch(mismatch)
                return
            self._export: ExportReader | None = reader
        started_at = reader.position
        if self.context.batch_records:
            yield from reader.batches(self.name, EXPORT_ROWS_PER_SLICE)
        else:
            yield from reader.take(EXPORT_ROWS_PER_SLICE)
        done = reader.position - started_at
        self.progress.add(done)
        if done < EXPORT_ROWS_PER_SLICE:
            self._finish_export(reader)
            self.state = dict(COMPLETE)
        else:
            self.state = {"export_id": reader.export_id, "rows_done": reader.position}

    def _open_export(self, export_id: int, rows_done: int) -> ExportReader:
        export = self.exporter.wait_until_done(export_id)
        if export is None:
            self.logger.warning(f"Stream 'customers': export {export_id} is gone; starting a new one.")
            export_id, rows_done = self._start_export(), 0
            export = self.exporter.wait_until_done(export_id) or {}
        reader = ExportReader(
            {**export, "id": export_id},
            self.exporter,
            self._fetch_people,
            self._search_with,
            self.people_filter,
            self.logger,
            self.attribute_columns,
        )
        try:
            checked = reader.prepare()
            reader.skip(rows_done)
        except BaseException:
            reader.close()
            raise
        self.progress.expected = checked.rows - checked.deleted
        self.logger.info(f"Stream 'customers': export checked: {checked.numbers()}.")
        return reader

    def _export_mismatch(self, mismatch: ExportMismatchError) -> Iterable[StreamData]:
        found = mismatch.reconciliation
        problems = "; ".join(found.problems)
        if self.context.config.customers_method == CustomersMethod.EXPORTS:
            raise config_error(
                f"Stream 'customers': customer export {found.export_id} does not check out ({problems}; "
                f"{found.numbers()}), so reading it could lose people. Set customers_method to 'search' "
                "(or 'auto', which falls back to search by itself)."
            )
        self.logger.warning(
            f"Stream 'customers': customer export {found.export_id} does not check out ({problems}; "
            f"{found.numbers()}); nothing of it was emitted. Reading people by search and hydration "
            "instead, which is slower."
        )
        yield from self._read_search_page(None)

    def _finish_export(self, reader: ExportReader) -> None:
        deleted = reader.reconciliation.deleted
        if deleted:
            self.logger.warning(
                f"Stream 'customers': {deleted:,} people of export {reader.export_id} are not known to "
                "Customer.io any more (deleted since the export) and were left out."
            )
        self._close_export()

    def _close_export(self) -> None:
        reader = getattr(self, "_export", None)
        if reader is not None:
            reader.close()
            self._export = None

    # -- search ----------------------------------------------------------------------------------

    def _read_search_page(self, start: str | None, first_page: Any = None) -> Iterable[StreamData]:
        pipeline: SearchPipeline | None = getattr(self, "_pipeline", None)
        if pipeline is None or pipeline.expected_start != start:
            self._close_search()
            if start is not None and first_page is None:
                # A resumed sync: the search cursor saved by the last one may have expired.
                start, first_page = self.resume_or_restart(start, self._search)
            pipeline = SearchPipeline(self._search, self.hydrator, start, first_page)
            self._pipeline: SearchPipeline | None = pipeline
        page = pipeline.next_page()
        normalize = self.normalize
        typed = self.attribute_columns.apply if self.attribute_columns else None
        name, batched = self.name, self.context.batch_records
        for future in page.hydrations:
            people = future.result()
            shaped = [typed(normalize(record)) if typed else normalize(record) for record in people]
            yield from in_batches(name, shaped, batched)
            self.progress.add(len(people))
        if page.next_start:
            self.state = {"search_start": page.next_start}
            if self.people_filter.name != "everyone":
                self.state["search_filter"] = self.people_filter.name
        else:
            self.state = dict(COMPLETE)
            self._close_search()
            self._report_missing()

    def _report_missing(self) -> None:
        hydrator = self.hydrator
        summary = hydrator.summary()
        if summary is None:
            return
        if hydrator.asked and hydrator.missing == hydrator.asked:
            raise AirbyteTracedException(
                message=f"{summary} No one the search found could be hydrated, so nothing was read.",
                failure_type=FailureType.system_error,
                stream_descriptor=StreamDescriptor(name=self.name),
            )
        self.logger.warning(summary)

    def _close_search(self) -> None:
        pipeline = getattr(self, "_pipeline", None)
        if pipeline is not None:
            pipeline.close()
            self._pipeline = None
