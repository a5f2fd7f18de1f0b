"""Generation speed: the simulator into a null sink, and onto the embedded broker.

Both runs are backfills (seed 1, November 2024, so 11.11's peak is in them) over the built-in
catalog. The catalog and customer pools are built before timing starts: they are made once per
process. The Kafka run checks every record's delivery (KafkaTarget waits for every batch's ack).
The machine is shared, so each is run `RUNS` times and the median is reported with the range.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from datetime import datetime

from bench.results import Result
from cartsim.broker import EmbeddedBroker
from cartsim.kafka import ensure_topic
from cartsim.producer.catalog import build_catalog
from cartsim.producer.config import JourneyConfig
from cartsim.producer.customers import customer_pools
from cartsim.producer.emit import emit
from cartsim.producer.journeys import backfill
from cartsim.producer.records import Record
from cartsim.producer.targets import KafkaTarget
from cartsim.producer.traffic import VIETNAM

START = datetime(2024, 11, 1, tzinfo=VIETNAM)
END = datetime(2024, 12, 1, tzinfo=VIETNAM)
NULL_COUNT = 2_000_000
KAFKA_COUNT = 500_000
RUNS = 3


def _records(count: int) -> Iterator[Record]:
    """The benchmark's stream, with everything made once per process already made."""
    products = build_catalog()
    config = JourneyConfig()
    customer_pools(config.registered_customers, config.guest_profiles)
    return backfill(1, START, END, count, products, config)


def _spread(rates: list[float]) -> str:
    return f"median of {len(rates)}, range {min(rates):,.0f}-{max(rates):,.0f}"


def _null_run() -> tuple[float, float, float]:
    """(events per CPU second, per wall second, mean bytes per event) of one run."""
    records = _records(NULL_COUNT)
    size = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for _, value in records:
        size += len(value)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return NULL_COUNT / cpu, NULL_COUNT / wall, size / NULL_COUNT


def null_sink() -> Result:
    """Events per second of the process's CPU time (one thread: one core), and of wall time,
    which other work on the machine lowers."""
    runs = [_null_run() for _ in range(RUNS)]
    cpu, wall = [run[0] for run in runs], [run[1] for run in runs]
    note = (
        f"{NULL_COUNT:,} events of {runs[0][2]:.0f} B; per CPU second, one core, {_spread(cpu)} "
        f"(by the wall clock {_spread(wall)})"
    )
    return Result(
        "generate + serialise (null sink)",
        statistics.median(cpu),
        "events/s",
        ">= 500,000",
        note,
    )


async def _to_kafka(bootstrap: str, count: int) -> float:
    await ensure_topic(bootstrap, "bench-generation", 4)
    records = _records(count)
    async with KafkaTarget(bootstrap, "bench-generation") as target:
        started = time.perf_counter()
        sent = await emit(records, target, count=count)
        await target.flush()
        elapsed = time.perf_counter() - started
    assert sent == count == target.sent
    return count / elapsed


def _kafka_run() -> float:
    with EmbeddedBroker() as broker:
        return asyncio.run(_to_kafka(broker.bootstrap, KAFKA_COUNT))


def kafka_sink() -> Result:
    rates = [_kafka_run() for _ in range(RUNS)]
    note = (
        f"{KAFKA_COUNT:,} events, 4 partitions, acks=all, every delivery awaited; "
        f"wall clock, {_spread(rates)}"
    )
    median = statistics.median(rates)
    return Result("generate + send to embedded broker", median, "events/s", ">= 150,000", note)


def run() -> list[Result]:
    return [null_sink(), kafka_sink()]
