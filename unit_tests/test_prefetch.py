"""The read-ahead (streams/prefetch.py), directly, with small units: order, spilling to disk past the
items kept in memory, the cap on what waits on disk, failures, and stopping (close, or a reader that
gives up part-way)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from source_customerio.streams import prefetch
from source_customerio.streams.prefetch import Channel, Codec, Prefetcher, merged

WAIT = 10.0  # seconds a test waits for a worker thread before calling it stuck


class CountingCodec(Codec):
    """JSON on disk, counting what was written there."""

    def __init__(self) -> None:
        self.spilled: list[object] = []

        def encode(item: object) -> bytes:
            self.spilled.append(item)
            return json.dumps(item).encode()

        super().__init__(encode=encode, decode=json.loads)


@pytest.fixture
def spill_files(monkeypatch):
    """Every temporary file a channel spills to."""
    made = []
    real = prefetch.tempfile.TemporaryFile

    def temporary_file(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(prefetch.tempfile, "TemporaryFile", temporary_file)
    return made


def eventually(condition) -> bool:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def finished(thread: threading.Thread) -> bool:
    thread.join(WAIT)
    return not thread.is_alive()


def test_items_past_the_memory_slots_wait_on_disk_and_come_back_in_order(spill_files):
    codec = CountingCodec()
    channel = Channel(threading.Event(), codec, in_memory=2)
    items = [{"page": n, "records": [n] * 3} for n in range(10)]
    assert all(channel.put(item) for item in items)  # no reader yet: nothing blocks
    channel.finish()
    assert codec.spilled == items[2:]
    assert len(spill_files) == 1
    assert list(channel) == items
    assert spill_files[0].closed, "the spill file is closed once the unit is read"


def test_a_reader_that_catches_up_lets_memory_take_items_again(spill_files):
    codec = CountingCodec()
    channel = Channel(threading.Event(), codec, in_memory=1)
    read = iter(channel)
    channel.put("a")
    channel.put("b")  # memory is full: to disk
    assert next(read) == "a"
    assert next(read) == "b"  # disk is empty again
    channel.put("c")  # memory only: nothing is spilled while nothing waits on disk
    channel.finish()
    assert list(read) == ["c"]
    assert codec.spilled == ["b"]


def test_a_producer_waits_once_the_disk_holds_the_cap(monkeypatch):
    monkeypatch.setattr(prefetch, "SPILL_LIMIT_BYTES", 64)
    codec = CountingCodec()
    channel = Channel(threading.Event(), codec, in_memory=1)
    items = [f"item {n:02d} " + "x" * 40 for n in range(6)]  # 54 bytes each on disk, with the length
    producer = threading.Thread(target=lambda: [channel.put(item) for item in items], daemon=True)
    producer.start()
    # Item 0 in memory; items 1 and 2 spilled (the disk held 0, then 54 bytes: under the cap); then
    # 108 bytes wait on disk, past the cap: item 3 waits for the reader.
    assert eventually(lambda: len(codec.spilled) == 2)
    producer.join(0.5)
    assert producer.is_alive() and codec.spilled == items[1:3]
    read = iter(channel)
    got = [next(read) for _ in items]  # each item read makes room for the next
    assert finished(producer)
    channel.finish()
    assert got == items and list(read) == []


def test_a_channel_without_a_codec_holds_only_its_memory_slots():
    closed = threading.Event()
    channel = Channel(closed, None, in_memory=2)
    assert channel.put(1) and channel.put(2)
    outcome = []
    producer = threading.Thread(target=lambda: outcome.append(channel.put(3)), daemon=True)
    producer.start()
    producer.join(0.5)
    assert producer.is_alive(), "the third item waits for room"
    channel.close()
    assert finished(producer)
    assert outcome == [False], "a closed channel drops the item and tells the producer"


def test_units_come_out_in_order_while_later_ones_are_read_ahead():
    started = {unit: threading.Event() for unit in range(4)}

    def produce(unit: int):
        started[unit].set()
        return [f"{unit}.{n}" for n in range(unit + 1)]

    prefetcher = Prefetcher([0, 1, 2, 3], produce, ahead=2)
    assert list(prefetcher.items(0)) == ["0.0"]
    assert started[1].wait(WAIT), "the unit after the reader's is under way"
    assert not started[2].is_set(), "no further than `ahead` units"
    rest = [list(prefetcher.items(position)) for position in (1, 2, 3)]
    assert rest == [["1.0", "1.1"], ["2.0", "2.1", "2.2"], ["3.0", "3.1", "3.2", "3.3"]]


def test_a_worker_failure_reaches_the_reader_after_the_items_before_it(spill_files):
    def produce(unit: str):
        yield f"{unit} page 1"
        yield f"{unit} page 2"
        if unit == "b":
            raise RuntimeError("answered 500 for good")
        yield f"{unit} page 3"

    prefetcher = Prefetcher(["a", "b", "c"], produce, ahead=3, codec=CountingCodec())
    assert list(prefetcher.items(0)) == ["a page 1", "a page 2", "a page 3"]
    got = []
    with pytest.raises(RuntimeError, match="answered 500 for good"):
        for item in prefetcher.items(1):
            got.append(item)
    assert got == ["b page 1", "b page 2"]
    assert all(f.closed for f in spill_files), "a failure closes every unit's spill file"


def produce_forever(stopped: dict[int, threading.Event], started: list[int]):
    """Endless units whose generators record that they were stopped."""

    def produce(unit: int):
        started.append(unit)
        try:
            n = 0
            while True:
                yield {"unit": unit, "n": n}
                n += 1
        finally:
            stopped[unit].set()

    return produce


@pytest.mark.parametrize("stop", ["close()", "the reader leaves"])
def test_stopping_ends_every_producer_starts_no_further_unit_and_closes_the_spill_files(
    stop, spill_files, monkeypatch
):
    """close(), or a reader that gives up part-way (an error elsewhere, the sync cancelled)."""
    monkeypatch.setattr(prefetch, "SPILL_LIMIT_BYTES", 4096)
    stopped = {unit: threading.Event() for unit in range(5)}
    started: list[int] = []
    codec = CountingCodec()
    prefetcher = Prefetcher(range(5), produce_forever(stopped, started), ahead=3, codec=codec)
    read = prefetcher.items(0)
    assert [next(read)["n"] for _ in range(5)] == [0, 1, 2, 3, 4]
    assert eventually(lambda: codec.spilled), "units ahead of the reader spill"
    if stop == "close()":
        prefetcher.close()
    else:
        read.close()
    for unit in set(started):
        assert stopped[unit].wait(WAIT), f"unit {unit} still producing after {stop}"
    assert set(started) <= {0, 1, 2}, f"a unit started after {stop}"
    assert spill_files and all(f.closed for f in spill_files)


def test_merged_yields_every_item_of_every_source_and_raises_a_source_failure():
    sources = [lambda n=n: [f"{n}.{i}" for i in range(3)] for n in range(4)]
    assert sorted(merged(sources)) == sorted(f"{n}.{i}" for n in range(4) for i in range(3))

    def failing():
        yield "x"
        raise ValueError("sub-window failed")

    with pytest.raises(ValueError, match="sub-window failed"):
        list(merged([lambda: ["a", "b"], failing]))
