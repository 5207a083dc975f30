"""Deliveries (`GET /v1/messages`), read in creation-time windows.

The API answers at most 6 months per request, and only the latest 6 months when no window is
given, so the stream walks creation-time windows [start, end] (whole seconds, both inside) from the
start to now. Windows are independent request chains: several run ahead of the reader (see
prefetch.py) while records and state are emitted window by window, oldest first. The state is the
end of the last window read whole; deliveries gain metrics (opens, clicks) after creation, so an
incremental read restarts `messages_lookback_days` before it.

Whether `start_ts` and `end_ts` are themselves inside the answer is not documented, so each request
asks one second more on both sides and keeps only the records whose own `created` is inside its
window (or sub-window): a delivery on a seam is read once whichever the API's meaning.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from functools import partial
from typing import Any

import orjson
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.core import StreamData

from source_customerio.http.pagination import CursorPagination
from source_customerio.records import RecordBatch, render
from source_customerio.streams.base import CustomerioStream
from source_customerio.streams.prefetch import Codec, Prefetcher, merged

DAY = 86_400
# 180 days fits inside "6 months" however the API counts months.
WINDOW_SECONDS = 180 * DAY
# Customer.io started sending in 2012: no workspace has older deliveries. With no start_date the
# walk starts here; each empty window costs one request.
EARLIEST_DELIVERIES = int(datetime(2012, 1, 1, tzinfo=timezone.utc).timestamp())
PAGE_SIZE = 1000
WINDOWS_AHEAD = 4
# A window with several pages is read as sub-windows side by side, if it spans a day or more: each a
# share of a full window (so a short window gets fewer), at least two. At Customer.io's rate a request's
# latency limits each chain, and more chains keep the budget busy to the end; at a high rate (a proxy,
# the sandbox unthrottled) CPU is the limit, and fewer chains cost less of it (and memory).
SUB_WINDOWS = 8
SUB_WINDOWS_FAST = 4
LATENCY_BOUND_RPS = 20.0
MIN_SPLIT_SECONDS = DAY
# Pages of a window's sub-windows waiting in memory for the reader (peak RSS), however many there are.
PAGES_WAITING_PER_WINDOW = 8
# Pages of windows ahead of the reader wait on disk, so those windows keep the budget busy.
PAGES_ON_DISK = Codec(encode=orjson.dumps, decode=orjson.loads)
LINES_ON_DISK = Codec(encode=bytes, decode=bytes)


class Deliveries(CustomerioStream):
    """https://docs.customer.io/integrations/api/app/tag/messages/listMessages/"""

    primary_key = "id"
    windows_ahead = WINDOWS_AHEAD

    @property
    def name(self) -> str:
        return "messages"

    @property
    def cursor_field(self) -> str:
        return "created"

    def first_second(self, sync_mode: SyncMode) -> int:
        config = self.context.config
        start = config.start_timestamp or EARLIEST_DELIVERIES
        saved = self.saved_timestamp("created")
        if saved is not None:
            lookback = config.messages_lookback_days * DAY if sync_mode == SyncMode.incremental else 0
            start = max(start, saved - lookback)
        return start

    def windows(self, sync_mode: SyncMode) -> list[tuple[int, int]]:
        start, end = self.first_second(sync_mode), self.context.now
        spans = []
        while start <= end:
            spans.append((start, min(start + WINDOW_SECONDS - 1, end)))
            start += WINDOW_SECONDS
        return spans

    def stream_slices(
        self,
        *,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | None]:
        spans = self.windows(sync_mode)
        # Batches (records.py): worker threads render each page's RECORD lines, so that a window read
        # ahead waits on disk as those bytes, not as a page to encode, decode and render again.
        produce, codec = (
            (self._rendered_pages, LINES_ON_DISK)
            if self.context.batch_records
            else (self._window_pages, PAGES_ON_DISK)
        )
        self._prefetcher: Prefetcher[tuple[int, int], Any] = Prefetcher(
            spans, produce, ahead=self.windows_ahead, codec=codec
        )
        return [{"start_ts": a, "end_ts": b, "position": i} for i, (a, b) in enumerate(spans)]

    def _window_pages(self, span: tuple[int, int]) -> Iterator[list[Any]]:
        """A window's pages. A window with more than one page is a chain of `next` cursors, one
        request after another; when it is long enough, its first page is set aside and the window
        is read instead as sub-windows side by side (up to SUB_WINDOWS; one request spent to gain their
        parallelism). Records of one window may come in any order: its state moves at its end."""
        pages = self._span_pages(span)
        first = next(pages, None)
        if first is None:
            return
        records, more = first
        if not more or span[1] - span[0] < MIN_SPLIT_SECONDS:
            yield records
            yield from (page for page, _ in pages)
            return
        pages.close()
        # A short window (the last, up to now) gets fewer sub-windows, so that its chains are about as
        # long as those of the others and the last ones to finish are several side by side.
        most = (
            SUB_WINDOWS if self.context.config.requests_per_second <= LATENCY_BOUND_RPS else SUB_WINDOWS_FAST
        )
        count = max(2, min(most, math.ceil((span[1] - span[0] + 1) * most / WINDOW_SECONDS)))
        step = (span[1] - span[0] + 1) // count
        bounds = [span[0] + i * step for i in range(count)] + [span[1] + 1]
        subs = [(bounds[i], bounds[i + 1] - 1) for i in range(count)]
        sources = [partial(self._sub_window_pages, sub) for sub in subs]
        yield from merged(sources, buffered=max(1, PAGES_WAITING_PER_WINDOW // count))

    def _rendered_pages(self, span: tuple[int, int]) -> Iterator[bytes]:
        normalize, name = self.normalize, self.name
        for records in self._window_pages(span):
            rendered = render(name, [normalize(r) for r in records if isinstance(r, dict)])
            if rendered:
                yield rendered

    def _sub_window_pages(self, span: tuple[int, int]) -> Iterator[list[Any]]:
        return (page for page, _ in self._span_pages(span))

    def _span_pages(self, span: tuple[int, int]) -> Generator[tuple[list[Any], bool], None, None]:
        """(records, whether more pages follow) for each page of one creation-time span [a, b]."""
        paginator = CursorPagination(PAGE_SIZE)
        # Inclusive or exclusive bounds are not documented: asking [a - 1, b + 1] covers [a, b] under
        # either reading of each bound, and `inside` drops what belongs to the neighbours
        # (sandbox: Quirks.end_ts_exclusive, Quirks.start_ts_exclusive).
        params = {"start_ts": span[0] - 1, "end_ts": span[1] + 1}
        for records in self.pages("messages", paginator, "messages", params=params):
            yield [r for r in records if inside(r, span)], paginator.following is not None

    def probe_target(self) -> tuple[str, str, dict[str, Any], dict[str, Any] | None]:
        return "GET", "messages", {"limit": 1}, None

    def read_stream(self, sync_mode: SyncMode, stream_slice: Mapping[str, Any]) -> Iterable[StreamData]:
        normalize, progress, name = self.normalize, self.progress, self.name
        try:
            for item in self._prefetcher.items(stream_slice["position"]):
                if isinstance(item, bytes):
                    batch = RecordBatch.of_lines(name, item)
                    yield batch
                    progress.add(batch.count)
                    continue
                for record in item:
                    if isinstance(record, dict):
                        yield normalize(record)
                progress.add(len(item))
        except BaseException:
            self._prefetcher.close()
            raise
        self.state = {"created": stream_slice["end_ts"]}


def inside(record: Any, span: tuple[int, int]) -> bool:
    """Whether a delivery belongs to [a, b] by its own `created`. One whose `created` cannot be read
    is kept: it might be read twice (the destination dedupes on `id`), but is never lost."""
    created = record.get("created") if isinstance(record, dict) else None
    if type(created) is not int:
        try:
            created = int(float(created))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return True
    return span[0] <= created <= span[1]
