"""Pacing: move events from a generator to a target, as a batch of N or live at a rate."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import orjson


class Target(Protocol):
    async def send(self, records: list[tuple[bytes, bytes]]) -> int: ...


def encode(event: dict[str, Any]) -> tuple[bytes, bytes]:
    """Kafka key (the session) and value (the JSON record) of one event."""
    return event["session_id"].encode(), orjson.dumps(event)


async def emit(
    events: Iterator[dict[str, Any]],
    target: Target,
    *,
    count: int | None = None,
    rate: float | None = None,
    stop: asyncio.Event | None = None,
    chunk: int = 5000,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Send `count` events (None: until `stop` is set), at most `rate` per second (None: flat out).

    Live pacing sends what is owed since the start every tick, so a slow tick is caught up on
    rather than lost, and the long-run rate is exact.
    """
    stop = stop or asyncio.Event()
    sent = 0
    started = time.monotonic()
    tick = 0.0 if rate is None else max(0.01, min(0.25, 1.0 / rate))
    while not stop.is_set() and (count is None or sent < count):
        want = chunk if rate is None else int((time.monotonic() - started) * rate) - sent
        if count is not None:
            want = min(want, count - sent)
        if want > 0:
            records = [encode(event) for event in itertools.islice(events, want)]
            sent += await target.send(records)
            if on_progress is not None:
                on_progress(sent)
        if tick:
            try:
                await asyncio.wait_for(stop.wait(), tick)
            except TimeoutError:
                pass
    return sent
