"""Emit sends exactly what was asked, flat out or at a rate, and stops on request."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable

from cartsim.producer.emit import emit


class Collect:
    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes]] = []

    async def send(self, records: Iterable[tuple[bytes, bytes]]) -> int:
        batch = list(records)
        self.records.extend(batch)
        return len(batch)


def records() -> Iterable[tuple[bytes, bytes]]:
    return ((b"k", b"%d" % n) for n in itertools.count())


def test_a_batch_sends_exactly_count_in_order() -> None:
    target = Collect()
    progress: list[int] = []
    sent = asyncio.run(
        emit(iter(records()), target, count=12_345, chunk=5_000, on_progress=progress.append)
    )
    assert sent == 12_345 and [v for _, v in target.records] == [b"%d" % n for n in range(12_345)]
    assert progress == [5_000, 10_000, 12_345]


def test_a_finite_stream_ends_the_batch_early() -> None:
    target = Collect()
    finite = iter([(b"k", b"1"), (b"k", b"2")])
    assert asyncio.run(emit(finite, target, count=10)) == 2


def test_live_rate_is_kept_and_stop_ends_it() -> None:
    target = Collect()

    async def run() -> int:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.5, stop.set)
        return await emit(iter(records()), target, rate=200, stop=stop)

    started = time.monotonic()
    sent = asyncio.run(run())
    assert time.monotonic() - started < 1.0
    assert 70 <= sent <= 110


def test_flat_out_stops_when_asked() -> None:
    stop = asyncio.Event()

    class StopAfterFirst(Collect):
        async def send(self, records: Iterable[tuple[bytes, bytes]]) -> int:
            stop.set()
            return await super().send(records)

    target = StopAfterFirst()
    sent = asyncio.run(emit(iter(records()), target, count=100_000, chunk=1_000, stop=stop))
    assert sent == 1_000 and len(target.records) == 1_000


def test_flat_out_without_count_ends_with_the_records() -> None:
    target = Collect()
    finite = ((b"k", b"%d" % n) for n in range(2_500))
    assert asyncio.run(emit(finite, target, chunk=1_000)) == 2_500


def test_records_are_made_off_the_event_loop() -> None:
    """Made on the loop, a slow generator would starve the Kafka client's reads and timers."""

    def made_off_the_loop() -> Iterable[tuple[bytes, bytes]]:
        for record in records():
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # no loop runs in this thread
                yield record
            else:
                raise AssertionError("a record was made on the event loop")

    target = Collect()
    assert asyncio.run(emit(iter(made_off_the_loop()), target, count=3_000, chunk=1_000)) == 3_000


def test_a_live_rate_that_fell_behind_catches_up_in_chunks() -> None:
    """Far behind its rate, emit still asks for at most `chunk` records per call."""

    class Sizes(Collect):
        def __init__(self) -> None:
            super().__init__()
            self.sizes: list[int] = []

        async def send(self, records: Iterable[tuple[bytes, bytes]]) -> int:
            sent = await super().send(records)
            self.sizes.append(sent)
            return sent

    target = Sizes()
    assert asyncio.run(emit(iter(records()), target, count=20_000, rate=1e12, chunk=500)) == 20_000
    assert max(target.sizes) == 500
