"""Pacing: move records from a generator to a target, as a batch of N or live at a rate."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

Item = TypeVar("Item")
Item_contra = TypeVar("Item_contra", contravariant=True)


class Sender(Protocol[Item_contra]):
    """Anything with the targets' `send` (of records, or of records with their faults)."""

    async def send(self, records: Iterable[Item_contra]) -> int: ...


async def emit(
    records: Iterator[Item],
    target: Sender[Item],
    *,
    count: int | None = None,
    rate: float | None = None,
    stop: asyncio.Event | None = None,
    chunk: int = 50_000,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Send `count` records (None: until `stop` is set or the records run out), at most `rate`
    per second (None: flat out).

    Live pacing sends what is owed since the start every tick, so a slow tick is caught up on
    rather than lost, and the long-run rate is exact. Flat out, records go in calls of `chunk`:
    enough for the Kafka target to fill whole 1 MB batches on every partition.

    Records are made in a worker thread, at most `chunk` at a time. Made on the event loop, a
    generator slower than the rate (a loaded machine) would owe more every tick and block the
    loop for ever longer calls (tens of seconds): the Kafka client would read no broker answer
    meanwhile, its connection and batch timeouts would expire with the answers unread in the
    socket, and delivery would fail with NodeNotReadyError.
    """
    stop = stop or asyncio.Event()
    sent = 0
    started = time.monotonic()
    tick = 0.0 if rate is None else max(0.01, min(0.25, 1.0 / rate))
    while not stop.is_set() and (count is None or sent < count):
        want = chunk if rate is None else int((time.monotonic() - started) * rate) - sent
        want = min(want, chunk)
        if count is not None:
            want = min(want, count - sent)
        if want > 0:
            batch = await asyncio.to_thread(_take, records, want)
            if not batch:
                break
            sent += await target.send(batch)
            if on_progress is not None:
                on_progress(sent)
        if tick:
            try:
                await asyncio.wait_for(stop.wait(), tick)
            except TimeoutError:
                pass
        else:
            await asyncio.sleep(0)  # let signal handlers and the Kafka client run
    return sent


def _take(records: Iterator[Item], count: int) -> list[Item]:
    return list(itertools.islice(records, count))
