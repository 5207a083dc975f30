"""Run independent request chains ahead of the reader, in order, in bounded memory.

The main thread must emit records (and state after each unit of work) in a fixed order, while the
request budget is best used with several requests in flight. A `Prefetcher` runs up to `ahead`
units (delivery windows, suppression types...) on worker threads; each unit's pages wait in a small
queue until the reader reaches that unit. A worker's exception is re-raised in the reader.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

Unit = TypeVar("Unit")
Item = TypeVar("Item")

_DONE = object()
PAGES_BUFFERED_PER_UNIT = 3


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetcher(Generic[Unit, Item]):
    def __init__(
        self,
        units: Sequence[Unit],
        produce: Callable[[Unit], Iterable[Item]],
        ahead: int,
        buffered: int = PAGES_BUFFERED_PER_UNIT,
    ) -> None:
        self._units = list(units)
        self._produce = produce
        self._ahead = max(1, ahead)
        self._buffered = buffered
        self._queues: dict[int, queue.Queue[object]] = {}
        self._next_to_start = 0
        self._closed = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=self._ahead, thread_name_prefix="prefetch")

    def _start_until(self, index: int) -> None:
        while self._next_to_start < len(self._units) and self._next_to_start <= index:
            position = self._next_to_start
            self._queues[position] = queue.Queue(maxsize=self._buffered)
            self._executor.submit(self._run, position)
            self._next_to_start += 1

    def _put(self, q: queue.Queue[object], item: object) -> bool:
        while not self._closed.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, position: int) -> None:
        q = self._queues[position]
        try:
            for item in self._produce(self._units[position]):
                if not self._put(q, item):
                    return
        except BaseException as error:
            self._put(q, _Failure(error))
            return
        self._put(q, _DONE)

    def items(self, position: int) -> Iterator[Item]:
        """The items of unit `position`, in order; starts the following units meanwhile."""
        self._start_until(position + self._ahead - 1)
        q = self._queues[position]
        while True:
            item = q.get()
            if item is _DONE:
                break
            if isinstance(item, _Failure):
                self.close()
                raise item.error
            yield item  # type: ignore[misc]
        del self._queues[position]
        if position == len(self._units) - 1:
            self.close()

    def close(self) -> None:
        self._closed.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
