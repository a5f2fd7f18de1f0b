"""`cartsim replay`'s loop: read the source, select, re-time, pace, send, and record how far the
target acknowledged.

Progress is recorded per send call: the checkpoint holds the position of the last call whose
events the target acknowledged (`target.sent`), saved at most once a second and when the replay
ends or stops. A crash between an acknowledgement and its save repeats those events on resume
(at least once); Ctrl-C or an error saves first, so resuming then repeats nothing acknowledged.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import Protocol

from cartsim.producer.decoding import Event, Rejects
from cartsim.producer.pacing import Pacer
from cartsim.producer.retime import Retimer, loop_period_ms
from cartsim.producer.selection import Selection
from cartsim.producer.sources import Source, SourceError, source_chunks
from cartsim.replay_checkpoint import ReplayCheckpoint

#: Events per send call flat out: enough for the Kafka target to fill 1 MB batches everywhere.
FLAT_OUT_CHUNK = 50_000
#: Events read ahead when paced: small, so stopping is prompt and memory low.
PACED_CHUNK = 2_000
_SAVE_EVERY_S = 1.0
_TIME = attrgetter("ts")
_RECORD = attrgetter("key", "value")  # (key, value), made in C


class Target(Protocol):
    @property
    def sent(self) -> int: ...

    async def send(self, records: Iterable[tuple[bytes, bytes]]) -> int: ...


@dataclass
class Status:
    """What a progress display shows."""

    delivered: int = 0  # acknowledged in this run
    handed: int = 0  # given to the target in this run
    loop: int = 0
    loops: int | None = 1
    fraction: float | None = None  # of the whole replay, when the source can tell
    behind_s: float = 0.0  # how late the last paced batch was


@dataclass
class Replay:
    source: Source
    selection: Selection
    checkpoint: ReplayCheckpoint
    checkpoint_path: Path | None = None
    speed: float | None = None  # None: flat out
    retime_ms: int | None = None  # the instant the first event is moved to
    strict: bool = False
    chunk: int | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    on_progress: Callable[[Status], None] | None = None

    def __post_init__(self) -> None:
        self.rejects = Rejects(self.strict)
        self.status = Status(loop=self.checkpoint.loop, loops=self.checkpoint.plan.loops)
        self._marks: deque[tuple[int, int, int]] = deque()  # (handed, loop, index)
        self._base = self.checkpoint.delivered
        self._saved = 0.0

    async def run(self, target: Target) -> Status:
        """Replay until every loop is sent or `stop` is set; the checkpoint is saved either way."""
        try:
            await self._loops(target)
            flush = getattr(target, "flush", None)
            if flush is not None:
                await flush()
        finally:
            self._acknowledged(target, force=True)
        return self.status

    async def _loops(self, target: Target) -> None:
        point, plan = self.checkpoint, self.checkpoint.plan
        pacer = None if self.speed is None else Pacer(self.speed, self.stop)
        size = self.chunk or (PACED_CHUNK if pacer else FLAT_OUT_CHUNK)
        loop, skip = point.loop, point.index
        while not point.finished and (plan.loops is None or loop < plan.loops):
            selected = await self._loop(target, loop, skip, pacer, size)
            if self.stop.is_set():
                return
            if selected == 0:
                raise self._nothing()
            loop, skip = loop + 1, 0
            self._marks.append((self.status.handed, loop, 0))
        point.finished = True

    async def _loop(
        self, target: Target, loop: int, skip: int, pacer: Pacer | None, size: int
    ) -> int:
        """One pass over the source, the first `skip` events left out; returns those selected."""
        point = self.checkpoint
        first = last = None
        count = index = 0
        async with aclosing(
            source_chunks(self.source, self.rejects, self.selection.kept, size)
        ) as chunks:
            async for chunk in chunks:
                if first is None:
                    first = chunk[0].ts
                    if point.shift_ms is None:
                        point.shift_ms = 0 if self.retime_ms is None else self.retime_ms - first
                last = max(last or first, max(map(_TIME, chunk)))
                count += len(chunk)
                if skip:
                    dropped, chunk = chunk[:skip], chunk[skip:]
                    skip -= len(dropped)
                    index += len(dropped)
                retimer = Retimer(point.shift_ms or 0, point.period_ms or 0)
                async for batch in self._batches(retimer.apply(chunk, loop), pacer):
                    await self._send(target, batch, loop, index)
                    index += len(batch)
                    if pacer is not None:
                        self.status.behind_s = pacer.behind_s
                    self._report(target, loop)
                if self.stop.is_set():
                    return count
        if first is not None and last is not None and point.period_ms is None:
            point.period_ms = loop_period_ms(first, last, count)
        return count

    @staticmethod
    async def _batches(events: list[Event], pacer: Pacer | None) -> AsyncIterator[list[Event]]:
        if pacer is not None:
            async for batch in pacer.batches(events):
                yield batch
        elif events:
            yield events

    async def _send(self, target: Target, batch: list[Event], loop: int, index: int) -> None:
        await target.send(list(map(_RECORD, batch)))
        self.status.handed += len(batch)
        self._marks.append((self.status.handed, loop, index + len(batch)))

    def _report(self, target: Target, loop: int) -> None:
        self._acknowledged(target)
        status = self.status
        status.loop = loop
        part = self.source.fraction()
        if part is not None and status.loops is not None:
            status.fraction = min(1.0, (loop + part) / status.loops)
        if self.on_progress is not None:
            self.on_progress(status)

    def _acknowledged(self, target: Target, force: bool = False) -> None:
        """Move the checkpoint to the last call the target acknowledged; save it now and then."""
        point, acked = self.checkpoint, target.sent
        while self._marks and self._marks[0][0] <= acked:
            _, point.loop, point.index = self._marks.popleft()
        point.delivered = self._base + acked
        self.status.delivered = acked
        now = time.monotonic()
        if self.checkpoint_path is not None and (force or now - self._saved >= _SAVE_EVERY_S):
            point.updated_at = datetime.now(UTC)
            point.save(self.checkpoint_path)
            self._saved = now

    def _nothing(self) -> SourceError:
        seen, rejected = self.selection.seen, self.rejects.count
        if seen == 0:
            invalid = f" ({rejected:,} invalid lines)" if rejected else ""
            return SourceError(f"{self.source} holds no events to replay{invalid}")
        return SourceError(f"no event of the {seen:,} in {self.source} matches the filters")


def stop_on_signals(stop: asyncio.Event) -> None:
    """Ctrl-C and SIGTERM set `stop`: the replay ends after the batch in flight."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
