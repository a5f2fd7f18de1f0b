"""Pacing: move events from a generator to a target, as a batch of N or live at a rate."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Protocol, TypeVar

from cartsim.producer.lines import Reader

Item = TypeVar("Item")
Item_contra = TypeVar("Item_contra", contravariant=True)
Item_co = TypeVar("Item_co", covariant=True)


class Sender(Protocol[Item_contra]):
    """Anything with the targets' `send` (of records, or of records with their faults)."""

    async def send(self, records: Iterable[Item_contra]) -> int: ...


class _Batch(Sized, Iterable[Item_co], Protocol[Item_co]):
    """What one take gives: a list of records, or `Lines`."""


async def emit(
    source: Iterator[Item] | Reader,
    target: Sender[Item],
    *,
    count: int | None = None,
    rate: float | None = None,
    stop: asyncio.Event | None = None,
    chunk: int = 50_000,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Send `count` events (None: until `stop` is set or the events run out), at most `rate`
    per second (None: flat out). `source` gives records, or lines (the fast way to files and
    stdout).

    Flat out, events go in calls of `chunk` (enough for the Kafka target to fill whole 1 MB
    batches on every partition), and the next chunk is made while one is being sent. Live
    pacing sends what is owed since the start every tick, so a slow tick is caught up on
    rather than lost, and the long-run rate is exact.

    Events are made in a worker thread, at most `chunk` at a time. Made on the event loop, a
    generator slower than the rate (a loaded machine) would owe more every tick and block the
    loop for ever longer calls (tens of seconds): the Kafka client would read no broker answer
    meanwhile, its connection and batch timeouts would expire with the answers unread in the
    socket, and delivery would fail with NodeNotReadyError.
    """
    stop = stop or asyncio.Event()
    take: Callable[[int], _Batch[Item]]
    if isinstance(source, Reader):
        take = source.take  # type: ignore[assignment]  # Lines are records
    else:
        take = lambda n: list(itertools.islice(source, n))  # noqa: E731
    if rate is None:
        return await _flat_out(take, target, count, stop, chunk, on_progress)
    sent = 0
    started = time.monotonic()
    tick = max(0.01, min(0.25, 1.0 / rate))
    while not stop.is_set() and (count is None or sent < count):
        want = min(chunk, int((time.monotonic() - started) * rate) - sent)
        if count is not None:
            want = min(want, count - sent)
        if want > 0:
            batch = await asyncio.to_thread(take, want)
            if not batch:
                break
            sent += await target.send(batch)
            if on_progress is not None:
                on_progress(sent)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), tick)
    return sent


async def _flat_out(
    take: Callable[[int], _Batch[Item]],
    target: Sender[Item],
    count: int | None,
    stop: asyncio.Event,
    chunk: int,
    on_progress: Callable[[int], None] | None,
) -> int:
    sent = taken = 0

    def fetch() -> asyncio.Future[_Batch[Item]] | None:
        want = chunk if count is None else min(chunk, count - taken)
        return asyncio.ensure_future(asyncio.to_thread(take, want)) if want > 0 else None

    making = fetch()
    try:
        while making is not None and not stop.is_set():
            batch = await making
            making = None
            if not batch:
                break
            taken += len(batch)
            if len(batch) == chunk or count is not None:
                making = fetch()
            sent += await target.send(batch)
            if on_progress is not None:
                on_progress(sent)
    finally:
        if making is not None:  # its thread cannot be cancelled: let it finish with the source
            with contextlib.suppress(Exception):
                await making
    return sent
