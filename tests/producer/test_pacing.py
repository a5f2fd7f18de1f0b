"""Pacing keeps the recorded gaps divided by the speed: never early, a little late at most."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from cartsim.producer.decoding import Event
from cartsim.producer.pacing import Pacer

#: Lateness tolerated on a shared, busy machine: this checks the schedule, not its precision.
TOLERANCE_S = 0.5


def stream() -> list[Event]:
    """Three sessions interleaved over 1.5 s of event time, irregular gaps, some at once."""
    gaps = [0, 0, 40, 10, 250, 0, 5, 300, 120, 80, 0, 400, 60, 235]
    events, ts = [], 1_700_000_000_000
    for n, gap in enumerate(gaps):
        ts += gap
        events.append(Event(ts, b"sess_%d" % (n % 3), b"%d" % n, "view_item"))
    return events


class Clocked:
    """A target noting when each event reached it."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, Event]] = []

    async def send(self, events: Iterable[Event]) -> None:
        now = time.monotonic()
        self.arrivals.extend((now, event) for event in events)


def test_each_event_is_sent_at_its_scaled_time_in_order() -> None:
    events, target, speed = stream(), Clocked(), 2.0

    async def run() -> None:
        pacer = Pacer(speed, asyncio.Event())
        async for batch in pacer.batches(events[:6]):  # two chunks, as the replay reads them
            await target.send(batch)
        async for batch in pacer.batches(events[6:]):
            await target.send(batch)

    started = time.monotonic()
    asyncio.run(run())
    assert [event for _, event in target.arrivals] == events
    first_sent = target.arrivals[0][0]
    assert first_sent - started < TOLERANCE_S
    for sent, event in target.arrivals:
        due = first_sent + (event.ts - events[0].ts) / 1000 / speed
        assert due - 0.002 <= sent <= due + TOLERANCE_S, (event.value, sent - due)


def test_stop_ends_the_wait_at_once() -> None:
    events = [
        Event(0, b"s", b"0", "search"),
        Event(3_600_000, b"s", b"1", "search"),
    ]  # an hour apart

    async def run() -> list[list[Event]]:
        stop = asyncio.Event()
        pacer = Pacer(1.0, stop)
        asyncio.get_running_loop().call_later(0.2, stop.set)
        return [batch async for batch in pacer.batches(events)]

    assert asyncio.run(asyncio.wait_for(run(), 30)) == [events[:1]]
