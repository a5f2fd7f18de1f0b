"""A clean stream sent with faults injected, and its truth file written: for produce and replay.

Without fault options and without a truth file the callers use `emit` directly, so the stream
is the same bytes as ever; with them the records go through the `Injector`, the
`FaultySender` and, when asked, a `TruthFile` whose expected results are those of the clean
records handed in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

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
    partition_of, partitions = placement(target, settings)
    tally = ExpectedTally(partition_of, Rules.of(settings))
    truth_file = None
    if truth is not None:
        run = TruthRun(
            seed=seed, faults=faults, partitions=partitions, started_at=datetime.now(UTC)
        )
        truth_file = TruthFile(truth, run, tally)
    injector = Injector(records, faults, seed, on_clean=tally.add if truth_file else None)
    sender = FaultySender(target, partition_of, truth_file)
    sent = await emit(iter(injector), sender, rate=rate, stop=stop, on_progress=on_progress)
    rest = injector.drain()
    if rest:
        sent += await sender.send(rest)
    if truth_file is not None:
        truth_file.close()
    return sent
