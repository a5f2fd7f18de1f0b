"""Replay speed and pacing accuracy, beside `produce` on the same targets in the same run.

1. Flat out from the store (a backfill of November 2024 written as the sink writes it) to the
   embedded broker, every delivery checked, and to a null sink; `produce` (generate + send)
   of the same number of events to the same targets right after, and the ratio replay/produce.
2. Paced at --speed 1: a recorded stream of about 200 events/s replayed for
   `CARTSIM_BENCH_REPLAY_PACED_S` seconds (default 60; 5 minutes is 300; 0 skips it) to a target
   that notes when each event arrives; p50/p99 of |arrival - schedule| and the drift (median
   lateness of the last tenth of the run minus that of the first tenth).
3. HTTP: the store POSTed to a local aiohttp collector (its own process) at batch sizes 100 and
   1,000, four requests in flight.

Sizes: `CARTSIM_BENCH_REPLAY_EVENTS` (default 500,000) for 1, `CARTSIM_BENCH_REPLAY_HTTP_EVENTS`
(default 200,000) for 3.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable
from datetime import datetime
from itertools import islice
from pathlib import Path

import orjson

from bench.results import Result
from cartsim.broker import EmbeddedBroker, free_port, wait_for_port
from cartsim.kafka import ensure_topic
from cartsim.moments import VIETNAM
from cartsim.processes import stop_process
from cartsim.producer.catalog import build_catalog
from cartsim.producer.emit import emit
from cartsim.producer.journeys import backfill, steady
from cartsim.producer.records import KeyedEvent
from cartsim.producer.replay import Replay
from cartsim.producer.selection import Selection
from cartsim.producer.sources import StoreSource
from cartsim.producer.targets import HttpOptions, HttpTarget, KafkaTarget
from cartsim.replay_checkpoint import ReplayCheckpoint, ReplayPlan
from cartsim.storage import Layout
from tests.filled import fill_store

START = datetime(2024, 11, 1, tzinfo=VIETNAM)
END = datetime(2024, 12, 1, tzinfo=VIETNAM)
PARTITIONS = 4
PACED_RATE = 200.0
WARM_UP = 50_000  # events produced untimed before produce is measured


def _env(name: str, default: str) -> float:
    return float(os.environ.get(f"CARTSIM_BENCH_REPLAY_{name}", default))


class NullTarget:
    """Takes every event and keeps none; `sent` acknowledges them at once."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, records: Iterable[KeyedEvent]) -> int:
        count = sum(1 for _ in records)
        self.sent += count
        return count


class Arrivals(NullTarget):
    """Notes when each batch arrives, with its events' times."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[float, list[bytes]]] = []

    async def send(self, records: Iterable[KeyedEvent]) -> int:
        now = time.monotonic()
        values = [value for _, value in records]
        self.batches.append((now, values))
        self.sent += len(values)
        return len(values)


def _fill(root: Path, records: Iterable[KeyedEvent]) -> int:
    return fill_store(root, records, PARTITIONS, segment_bytes=64 << 20)


async def _replay(root: Path, target: object, speed: float | None = None) -> float:
    """Seconds to replay the store at `root` to `target`."""
    job = Replay(
        StoreSource(Layout(root)),
        Selection(),
        ReplayCheckpoint(plan=ReplayPlan(source="store", target="bench")),
        speed=speed,
    )
    started = time.perf_counter()
    await job.run(target)  # type: ignore[arg-type]
    return time.perf_counter() - started


async def _produce(count: int, target: object) -> float:
    records = backfill(1, START, END, count, build_catalog())
    started = time.perf_counter()
    sent = await emit(records, target, count=count)  # type: ignore[arg-type]
    flush = getattr(target, "flush", None)
    if flush is not None:
        await flush()
    assert sent == count
    return time.perf_counter() - started


def flat_out(root: Path, count: int) -> list[Result]:
    rows = []
    # The first run of each in a process is slower (caches filling): neither is timed cold.
    asyncio.run(_replay(root, NullTarget()))
    asyncio.run(_produce(min(count, WARM_UP), NullTarget()))
    null_replay = count / asyncio.run(_replay(root, NullTarget()))
    null_produce = count / asyncio.run(_produce(count, NullTarget()))
    with EmbeddedBroker() as broker:

        async def to_broker(topic: str, replaying: bool) -> float:
            await ensure_topic(broker.bootstrap, topic, PARTITIONS)
            async with KafkaTarget(broker.bootstrap, topic) as target:
                took = await (_replay(root, target) if replaying else _produce(count, target))
            assert target.sent == count
            return count / took

        kafka_replay = asyncio.run(to_broker("bench-replay", True))
        kafka_produce = asyncio.run(to_broker("bench-produce", False))
    note = f"{count:,} stored events, wall clock; produce (generate + send) {{:,.0f}}/s just after"
    for target, replayed, produced, goal in (
        ("embedded broker, every delivery checked", kafka_replay, kafka_produce, ">= 150,000"),
        ("null sink", null_replay, null_produce, ">= 400,000"),
    ):
        rows.append(
            Result(
                f"replay flat out -> {target}", replayed, "events/s", goal, note.format(produced)
            )
        )
        rows.append(
            Result(
                f"replay / produce -> {target.split(',')[0]}", replayed / produced, "ratio", ">= 1"
            )
        )
    return rows


def paced(root: Path) -> list[Result]:
    seconds = _env("PACED_S", "60")
    if seconds <= 0:
        return []  # skipped, e.g. while iterating on the flat-out figures
    count = int(seconds * PACED_RATE)
    now = int(time.time() * 1000)
    _fill(root, islice(steady(2, PACED_RATE, build_catalog(), now_ms=now), count))
    target = Arrivals()
    asyncio.run(_replay(root, target, speed=1.0))

    arrivals = [
        (at, orjson.loads(value)["timestamp_unix"])
        for at, values in target.batches
        for value in values
    ]
    first_at, first_ts = arrivals[0]
    late = [at - (first_at + (ts - first_ts) / 1000) for at, ts in arrivals]
    gaps = sorted(abs(x) * 1000 for x in late)
    tenth = max(1, len(late) // 10)
    drift = (statistics.median(late[-tenth:]) - statistics.median(late[:tenth])) * 1000
    span = (arrivals[-1][1] - first_ts) / 1000
    note = f"{len(arrivals):,} events over {span:.0f} s of a ~{PACED_RATE:.0f}/s stream"
    return [
        Result("replay --speed 1: p50 |sent - scheduled|", gaps[len(gaps) // 2], "ms", "", note),
        Result(
            "replay --speed 1: p99 |sent - scheduled|", gaps[int(len(gaps) * 0.99)], "ms", "<= 50"
        ),
        Result(
            "replay --speed 1: drift, last tenth - first tenth",
            drift,
            "ms",
            "~0",
            f"over {span:.0f} s (CARTSIM_BENCH_REPLAY_PACED_S=300 for 5 minutes)",
        ),
    ]


def http(root: Path, count: int) -> list[Result]:
    port = free_port()
    collector = subprocess.Popen(
        [sys.executable, "-m", "bench.collector", str(port)], stdin=subprocess.DEVNULL
    )
    rows = []
    try:
        wait_for_port("127.0.0.1", port, 30)
        for batch_size in (100, 1000):
            before = _collected(port)
            took = asyncio.run(_post(root, port, HttpOptions(batch_size=batch_size, concurrency=4)))
            collected = _collected(port) - before
            assert collected == count, (collected, count)
            rows.append(
                Result(
                    f"replay -> HTTP collector, batch {batch_size:,}",
                    count / took,
                    "events/s",
                    "",
                    f"{count:,} events, 4 POSTs in flight, collector in its own process",
                )
            )
    finally:
        stop_process(collector, 10)
    return rows


async def _post(root: Path, port: int, options: HttpOptions) -> float:
    async with HttpTarget(f"http://127.0.0.1:{port}/events", options) as target:
        return await _replay(root, target)


def _collected(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=10) as answer:
        return int(answer.read())


def run() -> list[Result]:
    count = int(_env("EVENTS", "500000"))
    http_count = int(_env("HTTP_EVENTS", "200000"))
    with tempfile.TemporaryDirectory(prefix="cartsim-bench-replay-") as folder:
        stored, small, live = Path(folder, "store"), Path(folder, "http"), Path(folder, "paced")
        _fill(stored, backfill(1, START, END, count, build_catalog()))
        _fill(small, backfill(3, START, END, http_count, build_catalog()))
        return [*flat_out(stored, count), *paced(live), *http(small, http_count)]
