"""Pacing: send each event when its recorded gap from the first one, divided by the speed, has
passed on the wall clock.

The schedule is absolute (first send time + event-time offset / speed), so a late batch is
caught up on by the next and lateness never accumulates into drift.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from cartsim.producer.decoding import Event


class Pacer:
    """Splits chunks of events into batches that are due, waiting until they are."""

    def __init__(
        self,
        speed: float,
        stop: asyncio.Event,
        max_batch: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.speed = speed
        self.stop = stop
        self.max_batch = max_batch
        self.clock = clock
        self.origin: tuple[float, int] | None = None  # (wall clock, event time ms)
        self.behind_s = 0.0

    def due(self, ts: int) -> float:
        """The wall-clock time (of `clock`) at which the event of time `ts` is to be sent."""
        if self.origin is None:
            self.origin = (self.clock(), ts)
        wall, first = self.origin
        return wall + (ts - first) / 1000 / self.speed

    async def batches(self, events: list[Event]) -> AsyncIterator[list[Event]]:
        """`events` in batches of those due; stops early once `stop` is set."""
        index = 0
        while index < len(events) and not self.stop.is_set():
            wait = self.due(events[index].ts) - self.clock()
            if wait > 0:
                try:
                    await asyncio.wait_for(self.stop.wait(), wait)
                    return
                except TimeoutError:
                    pass
            now = self.clock()
            self.behind_s = max(0.0, now - self.due(events[index].ts))
            end = index + 1
            limit = min(len(events), index + self.max_batch)
            while end < limit and self.due(events[end].ts) <= now:
                end += 1
            yield events[index:end]
            index = end
