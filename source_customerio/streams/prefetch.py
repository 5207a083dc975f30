"""Run independent request chains ahead of the reader, in order, in bounded memory.

The main thread must emit records (and state after each unit of work) in a fixed order, while the
request budget is best used with several requests in flight. A `Prefetcher` runs up to `ahead`
units (delivery windows, suppression types...) on worker threads; each unit's items wait in a
`Channel` until the reader reaches that unit. A worker's exception is re-raised in the reader.

A unit ahead of the reader must not stall for lack of room (the budget would go unused) nor hold
its pages in memory (a dense window has hundreds): past a few items, a channel with a codec writes
them to a temporary file and reads them back, in order, when the reader gets there.
"""

from __future__ import annotations

import struct
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, Generic, TypeVar

Unit = TypeVar("Unit")
Item = TypeVar("Item")

ITEMS_IN_MEMORY = 2
SPILL_LIMIT_BYTES = 512 * 1024 * 1024
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class Codec:
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]


class Channel:
    """An ordered queue: the first items in memory, later ones spilled to disk while it is full.

    An item goes to memory only while nothing is spilled, so memory always holds the oldest ones.
    """

    def __init__(
        self, closed: threading.Event, codec: Codec | None, in_memory: int = ITEMS_IN_MEMORY
    ) -> None:
        self._closed = closed
        self._codec = codec
        self._in_memory = in_memory
        self._memory: deque[Any] = deque()
        self._file: IO[bytes] | None = None
        self._write_at = 0
        self._read_at = 0
        self._spilled = 0
        self._finished = False
        self._failure: BaseException | None = None
        self._ready = threading.Condition()

    def put(self, item: Any) -> bool:
        """False when the prefetcher was closed meanwhile (the item is dropped)."""
        with self._ready:
            while not self._has_room():
                if self._closed.is_set():
                    return False
                self._ready.wait(0.2)
            if self._closed.is_set():
                return False
            if self._spilled == 0 and len(self._memory) < self._in_memory:
                self._memory.append(item)
            else:
                self._spill(item)
            self._ready.notify_all()
            return True

    def _has_room(self) -> bool:
        if self._spilled == 0 and len(self._memory) < self._in_memory:
            return True
        return self._codec is not None and self._write_at - self._read_at < SPILL_LIMIT_BYTES

    def _spill(self, item: Any) -> None:
        assert self._codec is not None
        if self._file is None:
            # Closed by discard(), when the reader is done with this unit or the read stops.
            self._file = tempfile.TemporaryFile(prefix="source-customerio-")  # noqa: SIM115
        data = self._codec.encode(item)
        self._file.seek(self._write_at)
        self._file.write(_LENGTH.pack(len(data)) + data)
        self._write_at = self._file.tell()
        self._spilled += 1

    def _unspill(self) -> Any:
        assert self._codec is not None and self._file is not None
        self._file.seek(self._read_at)
        (length,) = _LENGTH.unpack(self._file.read(_LENGTH.size))
        data = self._file.read(length)
        self._read_at = self._file.tell()
        self._spilled -= 1
        if self._spilled == 0:
            self._file.seek(0)
            self._file.truncate()
            self._write_at = self._read_at = 0
        return self._codec.decode(data)

    def finish(self, failure: BaseException | None = None) -> None:
        with self._ready:
            self._finished = True
            self._failure = failure
            self._ready.notify_all()

    def __iter__(self) -> Iterator[Any]:
        while True:
            with self._ready:
                while not self._memory and self._spilled == 0 and not self._finished:
                    self._ready.wait()
                if self._memory:
                    item = self._memory.popleft()
                elif self._spilled:
                    item = self._unspill()
                else:
                    break
                self._ready.notify_all()
            yield item
        self.discard()
        if self._failure is not None:
            raise self._failure

    def close(self) -> None:
        """Stop the producers: their next put() returns False."""
        self._closed.set()
        with self._ready:
            self._ready.notify_all()

    def discard(self) -> None:
        with self._ready:
            if self._file is not None:
                self._file.close()
                self._file = None


class Prefetcher(Generic[Unit, Item]):
    def __init__(
        self,
        units: Sequence[Unit],
        produce: Callable[[Unit], Iterable[Item]],
        ahead: int,
        codec: Codec | None = None,
    ) -> None:
        self._units = list(units)
        self._produce = produce
        self._ahead = max(1, ahead)
        self._codec = codec
        self._channels: dict[int, Channel] = {}
        self._next_to_start = 0
        self._closed = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=self._ahead, thread_name_prefix="prefetch")

    def _start_until(self, index: int) -> None:
        while self._next_to_start < len(self._units) and self._next_to_start <= index:
            position = self._next_to_start
            self._channels[position] = Channel(self._closed, self._codec)
            self._executor.submit(self._run, position)
            self._next_to_start += 1

    def _run(self, position: int) -> None:
        channel = self._channels[position]
        try:
            for item in self._produce(self._units[position]):
                if not channel.put(item):
                    return
        except BaseException as error:
            channel.finish(error)
            return
        channel.finish()

    def items(self, position: int) -> Iterator[Item]:
        """The items of unit `position`, in order; starts the following units meanwhile."""
        self._start_until(position + self._ahead - 1)
        try:
            yield from self._channels[position]
        except BaseException:
            self.close()
            raise
        del self._channels[position]
        if position == len(self._units) - 1:
            self.close()

    def close(self) -> None:
        self._closed.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        for channel in self._channels.values():
            channel.discard()


def merged(
    sources: Sequence[Callable[[], Iterable[Item]]], buffered: int = ITEMS_IN_MEMORY
) -> Iterator[Item]:
    """The items of several independent sources, as they arrive, each source on its own thread.

    For parts of one unit whose order does not matter (the sub-windows of a delivery window):
    the unit's state moves only once all of them are read.
    """
    channel = Channel(threading.Event(), codec=None, in_memory=max(1, buffered) * len(sources))
    remaining = [len(sources)]
    lock = threading.Lock()

    def run(source: Callable[[], Iterable[Item]]) -> None:
        try:
            for item in source():
                if not channel.put(item):
                    return
        except BaseException as error:
            channel.finish(error)
            return
        with lock:
            remaining[0] -= 1
            if remaining[0] == 0:
                channel.finish()

    pool = ThreadPoolExecutor(max_workers=max(1, len(sources)), thread_name_prefix="merge")
    for source in sources:
        pool.submit(run, source)
    try:
        yield from channel
    finally:
        channel.close()
        pool.shutdown(wait=False, cancel_futures=True)
