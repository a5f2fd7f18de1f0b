"""A clean stream sent with faults injected, and its truth file written: for produce and replay.

`FaultyTarget` wraps a target. Whatever is sent through it is taken as the clean stream: the
records go through the `Injector` and the `FaultySender` and, when asked, a `TruthFile` whose
expected results are those of the clean records handed in. `produce` hands it the generated
events, `replay` the events it selected, re-timed and looped, so the same code labels both.
Without fault options and without a truth file the callers send to the target directly, so the
stream is the same bytes as ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from cartsim.producer.emit import emit
from cartsim.producer.expected import ExpectedTally
from cartsim.producer.faults import Injector
from cartsim.producer.partitions import partition_for
from cartsim.producer.records import KeyedEvent
from cartsim.producer.targets import KafkaTarget, Target
from cartsim.producer.truth_file import FaultySender, TruthFile
from cartsim.settings import Settings
from cartsim.stream_processors.aggregate import Rules
from cartsim.truth import FaultOptions, TruthRun


def placement(target: Target, settings: Settings) -> tuple[Callable[[bytes], int], int]:
    """How keys map to partitions, and how many: the topic's, or as the topic would place them."""
    if isinstance(target, KafkaTarget):
        return target.partition_for, len(target.partitions)
    count = settings.partitions
    return (lambda key: partition_for(key, count)), count


class FaultyTarget:
    """A target for clean records that sends them with faults injected and writes the truth.

    `send` returns the records that went out (extras in, held ones not yet); `sent` is what the
    wrapped target acknowledged. `flush` sends what the injector still holds; leaving the
    `async with` ends the truth file with the expected results of every clean record sent
    through (without them when the block failed).
    """

    def __init__(
        self,
        target: Target,
        settings: Settings,
        *,
        faults: FaultOptions,
        seed: int,
        truth: Path | None,
    ) -> None:
        self.target = target
        partition_of, partitions = placement(target, settings)
        self.truth_file = None
        tally = None
        if truth is not None:
            tally = ExpectedTally(partition_of, Rules.of(settings))
            run = TruthRun(
                seed=seed, faults=faults, partitions=partitions, started_at=datetime.now(UTC)
            )
            self.truth_file = TruthFile(truth, run, tally)
        self.injector = Injector(faults, seed, on_clean=tally.add if tally else None)
        self.sender = FaultySender(target, partition_of, self.truth_file)
        self.clean = 0  # clean records handed in

    @property
    def sent(self) -> int:
        return self.target.sent

    @property
    def records(self) -> int:
        """Records given to the target: the clean ones and the injected extras."""
        return self.sender.sequence

    async def send(self, records: Iterable[KeyedEvent]) -> int:
        batch = list(records)
        self.clean += len(batch)
        # injecting (and tallying the expected results) is CPU work: off the event loop
        outgoing = await asyncio.to_thread(self.injector.feed, batch)
        return await self.sender.send(outgoing)

    async def flush(self) -> None:
        rest = self.injector.drain()
        if rest:
            await self.sender.send(rest)
        flush = getattr(self.target, "flush", None)
        if flush is not None:
            await flush()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.truth_file is not None:
            self.truth_file.close(failed=exc is not None)


async def emit_with_faults(
    records: Iterator[KeyedEvent],
    target: Target,
    settings: Settings,
    *,
    faults: FaultOptions,
    seed: int,
    truth: Path | None,
    rate: float | None,
    stop: asyncio.Event,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Send every record of `records` once plus the injected extras; returns records sent.

    When stopped, records the injector still holds (late, reordered, repeats) are sent before
    returning, so the clean events taken from `records` all reach the target.
    """
    async with FaultyTarget(target, settings, faults=faults, seed=seed, truth=truth) as faulty:
        await emit(records, faulty, rate=rate, stop=stop, on_progress=on_progress)
        await faulty.flush()
    return faulty.records
