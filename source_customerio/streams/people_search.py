"""Search-and-hydrate, pipelined: the search chain runs on its own thread and hands each page's
hydration requests to a pool as soon as the page's ids are known, at most `PAGES_AHEAD` pages ahead
of the reader. The budget therefore never waits for the reader to finish a page before the next
page's requests are queued, and memory holds at most a few pages of people.

Hydration (`Hydrator`) leaves out people it does not find, without a word (documented). A batch that
comes back short is asked once more for the missing people (a person may be left out once, 🔶;
`Quirks.hydration_omits_once`); whoever is still missing was deleted after the search
(`Quirks.hydration_deleted`) and is counted, for one warning at the end of the stream.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from source_customerio.http.pagination import CursorPagination

SEARCH_PAGE_SIZE = 1000
HYDRATE_BATCH = 100
PAGES_AHEAD = 2
WORKERS = 12
MISSING_EXAMPLES = 5


def person_record(item: Any) -> dict[str, Any] | None:
    """One flat record per person, from an item that may be wrapped as {"customer": {...}}; None
    without a cio_id."""
    if not isinstance(item, Mapping):
        return None
    wrapped = item.get("customer")
    person = dict(wrapped if isinstance(wrapped, Mapping) else item)
    identifiers = mapping(person.get("identifiers"))
    attributes = mapping(person.get("attributes"))
    cio_id = identifiers.get("cio_id") or attributes.get("cio_id") or person.get("cio_id")
    if cio_id in (None, ""):
        return None
    person["cio_id"] = str(cio_id)
    person["id"] = person.get("id") or identifiers.get("id") or attributes.get("id") or None
    person["email"] = person.get("email") or identifiers.get("email") or attributes.get("email") or None
    return person


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def identity_key(value: Any, id_type: str) -> str:
    """An identifier as people are matched by it: emails regardless of case."""
    text = "" if value is None else str(value)
    return text.casefold() if id_type == "email" else text


@dataclass
class Hydrator:
    """People by one kind of identifier, 100 a request, asking once more for anyone left out.

    `fetch(ids, id_type)` is the raw `POST /v1/customers/attributes`; thread-safe."""

    fetch: Callable[[list[str], str], list[Any]]
    asked: int = 0
    missing: int = 0
    missing_examples: list[str] = field(default_factory=list)
    without_cio_id: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, ids: list[str], id_type: str = "cio_id") -> list[dict[str, Any]]:
        people: dict[str, dict[str, Any]] = {}
        left = list(ids)
        for _ in range(2):
            for item in self.fetch(left, id_type):
                record = person_record(item)
                if record is None:
                    with self._lock:
                        self.without_cio_id += 1
                    continue
                people.setdefault(identity_key(record.get(id_type), id_type) or record["cio_id"], record)
            left = [i for i in left if identity_key(i, id_type) not in people]
            if not left:
                break
        with self._lock:
            self.asked += len(ids)
            self.missing += len(left)
            room = MISSING_EXAMPLES - len(self.missing_examples)
            self.missing_examples.extend(str(i) for i in left[: max(room, 0)])
        return list(people.values())

    def summary(self) -> str | None:
        """The end-of-stream warning, or None when everyone asked for came back with a cio_id."""
        if not self.missing and not self.without_cio_id:
            return None
        parts = []
        if self.missing:
            parts.append(
                f"{self.missing:,} of the {self.asked:,} people the search found were not returned by "
                f"POST /v1/customers/attributes, even when asked a second time (e.g. "
                f"{', '.join(self.missing_examples)}): they were most likely deleted during the sync"
            )
        if self.without_cio_id:
            parts.append(f"{self.without_cio_id:,} people came back without a cio_id and were left out")
        return "Stream 'customers': " + "; ".join(parts) + "."


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
    hydrations: list[Future[list[dict[str, Any]]]]


class SearchPipeline:
    def __init__(
        self,
        search: Callable[[str | None], Any],
        hydrate: Callable[[list[str]], list[dict[str, Any]]],
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
