"""The base stream every Customer.io table builds on.

`CustomerioStream` owns the HTTP contract once: base URL, auth, the shared request budget, the error
table, backoff, request timeouts, JSON decoding, paging, 403/404 handling and type normalisation.
Concrete streams say only what differs: a path, a records key, a paging style, a key.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import requests
from airbyte_cdk.models import FailureType, StreamDescriptor, SyncMode
from airbyte_cdk.sources.http_config import MAX_CONNECTION_POOL_SIZE
from airbyte_cdk.sources.streams.core import StreamData
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.sources.streams.http.requests_native_auth import TokenAuthenticator
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from requests.adapters import HTTPAdapter

from source_customerio.config import CustomerioConfig
from source_customerio.errors import RequestRefusedError, StreamForbiddenError, transient_error
from source_customerio.http.budget import RequestBudget
from source_customerio.http.error_table import (
    CustomerioErrorHandler,
    RetryAfterBackoff,
    endpoint_of,
    payload_of,
    quota_hint,
)
from source_customerio.http.pagination import EndlessPagingError, Paginator
from source_customerio.progress import Progress
from source_customerio.streams.normalize import RecordNormalizer

# Stops a client-side filter from trusting a cursor saved by a clock far in the future.
FUTURE_STATE_TOLERANCE_SECONDS = 86_400
# How long a `next` cursor stays valid is not documented: a saved one refused with one of these
# answers has expired, and the walk starts again from its first page (sandbox:
# Quirks.cursor_ttl_seconds, Quirks.expired_cursor_status).
STALE_CURSOR_STATUSES = frozenset({400, 404, 410, 422})


@dataclass
class StreamContext:
    """What every stream of one sync shares: settings, where to send requests, and the budget."""

    config: CustomerioConfig
    url_base: str
    budget: RequestBudget
    request_timeout: tuple[float, float] = (10.0, 60.0)
    now: int = field(default_factory=lambda: int(time.time()))
    # Streams with many records yield them as RecordBatches (records.py): only cli.py's entrypoint asks.
    batch_records: bool = False

    @cached_property
    def authenticator(self) -> TokenAuthenticator:
        return TokenAuthenticator(token=self.config.access_token)


class CustomerioStream(HttpStream):
    primary_key: str | list[str] = "id"
    # Full-refresh lists are re-read whole; only customers (resumable) and incremental streams
    # checkpoint progress.
    resumable = False
    forbidden = False

    def __init__(self, context: StreamContext) -> None:
        self.context = context
        self._stream_state: dict[str, Any] = {}
        # Answers that carried no list under the records key (a `{}` for an empty list, or a glitch).
        self.answers_without_records = 0
        super().__init__(authenticator=context.authenticator, api_budget=context.budget)
        # The CDK sizes the connection pool of https:// hosts only (40 connections): a loopback base_url
        # (the sandbox, a local proxy) gets the same, or the threads beyond urllib3's default of 10 would
        # each open and discard a connection, with a "Connection pool is full" warning per request.
        self._http_client._session.mount(
            "http://",
            HTTPAdapter(pool_connections=MAX_CONNECTION_POOL_SIZE, pool_maxsize=MAX_CONNECTION_POOL_SIZE),
        )

    # Every stream keeps its state here; what it holds is each stream's own (see its docstring).
    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._stream_state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._stream_state = dict(value or {})

    def saved_timestamp(self, key: str) -> int | None:
        """A unix time saved in the state, or None (with a warning) when it is unusable."""
        raw = self.state.get(key)
        if raw is None:
            return None
        try:
            value = int(float(raw))
        except (TypeError, ValueError):
            self.logger.warning(
                f"Stream '{self.name}': saved state {key}={raw!r} is not a unix timestamp; "
                "ignoring it and reading from start_date."
            )
            return None
        if value > self.context.now + FUTURE_STATE_TOLERANCE_SECONDS:
            self.logger.warning(
                f"Stream '{self.name}': saved state {key}={value} is in the future; "
                "ignoring it and reading from start_date."
            )
            return None
        return value

    @property
    def url_base(self) -> str:
        return self.context.url_base + "/"

    @property
    def is_resumable(self) -> bool:
        return self.supports_incremental or self.resumable

    # Paging and parsing are done by `pages()`/`request()` below, not by HttpStream's single-chain
    # loop, so that independent requests can run side by side under the shared budget.
    def path(self, **kwargs: Any) -> str:
        return ""

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        return None

    def parse_response(self, response: requests.Response, **kwargs: Any) -> Iterable[Mapping[str, Any]]:
        return []

    def get_error_handler(self) -> ErrorHandler:
        return CustomerioErrorHandler(self.logger)

    def get_backoff_strategy(self) -> BackoffStrategy:
        return RetryAfterBackoff()

    @cached_property
    def normalize(self) -> RecordNormalizer:
        return RecordNormalizer(self.get_json_schema())

    @cached_property
    def progress(self) -> Progress:
        return Progress(self.name, self.logger, self.context.budget)

    # -- HTTP ------------------------------------------------------------------------------------

    def request(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        method: str = "GET",
        allow_missing: bool = False,
    ) -> Any:
        """The decoded JSON answer of one request (retried per the error table).

        None when `allow_missing` and the resource is gone (404): a parent deleted mid-sync.
        """
        url = f"{self.context.url_base}/{path}"
        try:
            _, response = self._http_client.send_request(
                http_method=method,
                url=url,
                request_kwargs={"timeout": self.context.request_timeout},
                params=dict(params or {}),
                json=dict(json) if json is not None else None,
            )
        except AirbyteTracedException as error:
            if error.failure_type == FailureType.config_error:
                raise
            if error.failure_type == FailureType.transient_error:
                quota = quota_hint(error)
                if quota:
                    raise transient_error(
                        f"Stream '{self.name}': {method} /{path}: {quota}. Records and state emitted so far "
                        "are kept.",
                        stream=self.name,
                    ) from None
                raise transient_error(
                    f"Stream '{self.name}': {method} /{path} kept failing after retries "
                    f"({error.message}). Records and state emitted so far are kept: run the sync again "
                    "to resume from the last state.",
                    stream=self.name,
                ) from None
            # An answer the error table fails at once (400, 405...): retrying the sync will not help.
            raise AirbyteTracedException(
                message=f"Stream '{self.name}': {method} /{path} was refused ({error.message}).",
                internal_message=error.internal_message,
                failure_type=error.failure_type or FailureType.system_error,
                stream_descriptor=StreamDescriptor(name=self.name),
            ) from None
        status = response.status_code
        if status == 403:
            raise StreamForbiddenError(f"{method} /{path}", _error_detail(response))
        if status == 404 and allow_missing:
            return None
        if status == 404:
            raise RequestRefusedError(
                f"Stream '{self.name}': {method} {endpoint_of(url)} answered 404 (not found): "
                "the endpoint may not exist in this region or API version.",
                404,
                _error_detail(response, "not found"),
                f"{method} /{path}",
                FailureType.transient_error,
                self.name,
            )
        if status >= 400:
            # A request the error table passes back (400, 405, 409, 410, 422...): retrying cannot help.
            detail = _error_detail(response, "refused")
            raise RequestRefusedError(
                f"Stream '{self.name}': {method} /{path} was refused ({status}: {detail}).",
                status,
                detail,
                f"{method} /{path}",
                FailureType.system_error,
                self.name,
            )
        return payload_of(response)

    def pages(
        self,
        path: str,
        paginator: Paginator,
        records_key: str,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        method: str = "GET",
        allow_missing: bool = False,
    ) -> Iterator[list[Any]]:
        """The records of each page in turn, from where the paginator stands.

        A page cursor saved by an earlier sync that the API refuses (STALE_CURSOR_STATUSES) is
        warned about, and the walk starts again from its first page: records may arrive twice
        across the two syncs, none are lost, and a stale cursor cannot fail every later sync.
        """
        where = f"{method} /{path}"
        paginator.warn = lambda message: self.logger.warning(f"Stream '{self.name}': {where}: {message}")
        page_params: dict[str, Any] | None = paginator.first_params()
        while page_params is not None:
            saved = paginator.saved_start
            try:
                payload = self.request(
                    path,
                    {**(params or {}), **page_params},
                    json=json,
                    method=method,
                    # A 404 to a saved cursor may mean the cursor is gone, not the resource.
                    allow_missing=allow_missing and saved is None,
                )
            except RequestRefusedError as refused:
                if saved is None or refused.status not in STALE_CURSOR_STATUSES:
                    raise
                self.restart_warning(where, refused)
                paginator.restart()
                page_params = paginator.first_params()
                continue
            if payload is None:
                return
            records = payload.get(records_key) if isinstance(payload, dict) else None
            if not isinstance(records, list):
                self.answers_without_records += 1
                paginator.answers_without_records += 1
                records = []
            try:
                page_params = paginator.following = paginator.next_params(payload, len(records))
            except EndlessPagingError as endless:
                raise AirbyteTracedException(
                    message=f"Stream '{self.name}': {where}: {endless.message}",
                    internal_message=endless.internal_message,
                    failure_type=FailureType.system_error,
                    stream_descriptor=StreamDescriptor(name=self.name),
                ) from None
            yield records

    def restart_warning(self, where: str, refused: RequestRefusedError) -> None:
        self.logger.warning(
            f"Stream '{self.name}': the API refused the page cursor saved by the last sync ({where} "
            f"answered {refused.status}: {refused.detail}); it has probably expired. Reading from the "
            "first page again: records read before may arrive again, none are lost."
        )

    def resume_or_restart(
        self, saved: str | None, fetch: Callable[[str | None], Any]
    ) -> tuple[str | None, Any]:
        """(saved, `fetch(saved)`), or (None, `fetch(None)`) with a warning when the API refuses the
        saved cursor: the same rule as `pages()`, for streams that page on their own (customers' search)."""
        if not saved:
            return None, fetch(None)
        try:
            return saved, fetch(saved)
        except RequestRefusedError as refused:
            if refused.status not in STALE_CURSOR_STATUSES:
                raise
            self.restart_warning(refused.endpoint, refused)
            return None, fetch(None)

    def probe_target(self) -> tuple[str, str, dict[str, Any], dict[str, Any] | None]:
        """(method, path, params, body) of the cheapest request that shows whether the key may read
        this stream."""
        raise NotImplementedError

    def probe(self) -> str | None:
        """The API's reason when the key may not read this stream (403), else None."""
        method, path, params, body = self.probe_target()
        try:
            self.request(path, params, json=body, method=method, allow_missing=True)
        except StreamForbiddenError as forbidden:
            return forbidden.detail
        return None

    # -- reading ---------------------------------------------------------------------------------

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[StreamData]:
        if self.forbidden:
            return
        try:
            yield from self.read_stream(sync_mode, stream_slice or {})
        except StreamForbiddenError as forbidden:
            if self.progress.records:
                # Refused part-way (the key's access changed mid-sync): skipping would pass a partial
                # table off as a complete one. The state emitted so far still says where to resume.
                raise AirbyteTracedException(
                    message=(
                        f"Stream '{self.name}': the App API key was refused {forbidden.endpoint} (403: "
                        f"{forbidden.detail}) after {self.progress.records:,} records had been read, so "
                        "the table is incomplete. Give the key access to this endpoint and sync again, "
                        "or deselect the stream."
                    ),
                    failure_type=FailureType.config_error,
                    stream_descriptor=StreamDescriptor(name=self.name),
                ) from None
            self.forbidden = True
            self.logger.warning(
                f"Stream '{self.name}' skipped: the App API key may not read {forbidden.endpoint} (403: "
                f"{forbidden.detail}). Give the key access to this endpoint, or deselect the stream."
            )
        self.progress.finish()

    @abstractmethod
    def read_stream(self, sync_mode: SyncMode, stream_slice: Mapping[str, Any]) -> Iterable[StreamData]:
        """The stream's records, normalised to its schema."""


def _error_detail(response: requests.Response, default: str = "forbidden") -> str:
    payload = payload_of(response)
    if isinstance(payload, dict):
        errors = payload.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("detail", default))
        meta = payload.get("meta")
        if isinstance(meta, dict) and meta.get("error"):
            return str(meta["error"])
    return default
