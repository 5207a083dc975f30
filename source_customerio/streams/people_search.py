"""Search-and-hydrate, pipelined: the search chain runs on its own thread and hands each page's
hydration requests to a pool as soon as the page's ids are known, at most `PAGES_AHEAD` pages ahead
of the reader. The budget therefore never waits for the reader to finish a page before the next
page's requests are queued, and memory holds at most a few pages of people.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from source_customerio.http.pagination import CursorPagination

SEARCH_PAGE_SIZE = 1000
HYDRATE_BATCH = 100
PAGES_AHEAD = 2
WORKERS = 12


def cio_ids_of(page: Any) -> list[str]:
    """The cio_ids of a search page (`identifiers`), which people without an `id` have too."""
    if not isinstance(page, dict) or not isinstance(page.get("identifiers"), list):
        return []
    found = (i.get("cio_id") for i in page["identifiers"] if isinstance(i, dict))
    return [str(cio_id) for cio_id in found if cio_id not in (None, "")]


@dataclass
class SearchPage:
    start: str | None
    next_start: str | None
    hydrations: list[Future[list[Any]]]


class SearchPipeline:
    def __init__(
        self,
        search: Callable[[str | None], Any],
        hydrate: Callable[[list[str]], list[Any]],
        start: str | None,
        first_page: Any = None,
    ) -> None:
        self._search = search
        self._hydrate = hydrate
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="customers")
        self._pages: queue.Queue[SearchPage | BaseException] = queue.Queue(maxsize=PAGES_AHEAD)
        self._closed = threading.Event()
        self.expected_start = start
        self._thread = threading.Thread(
            target=self._run, args=(start, first_page), name="customers-search", daemon=True
        )
        self._thread.start()

    def _put(self, item: SearchPage | BaseException) -> bool:
        while not self._closed.is_set():
            try:
                self._pages.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, start: str | None, page: Any) -> None:
        paginator = CursorPagination(SEARCH_PAGE_SIZE, start)
        try:
            while not self._closed.is_set():
                page = self._search(start) if page is None else page
                ids = cio_ids_of(page)
                following = paginator.next_params(page, len(ids))
                next_start = following["start"] if following else None
                batches = [ids[i : i + HYDRATE_BATCH] for i in range(0, len(ids), HYDRATE_BATCH)]
                futures = [self._pool.submit(self._hydrate, batch) for batch in batches]
                if not self._put(SearchPage(start, next_start, futures)) or next_start is None:
                    return
                start, page = next_start, None
        except BaseException as error:
            self._put(error)

    def next_page(self) -> SearchPage:
        item = self._pages.get()
        if isinstance(item, BaseException):
            self.close()
            raise item
        self.expected_start = item.next_start
        return item

    def close(self) -> None:
        self._closed.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
