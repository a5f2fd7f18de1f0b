"""Generation speed on 1 and 2 generator processes: into a null sink, to stdout, onto the broker.

Every run is the same backfill (seed 1, November 2024, so 11.11's peak is in it) over the
built-in catalog. Start-up (imports, catalog, customer pools, starting the generators) is left
out of every figure: timing starts when the first events are out.

- null sink: `Schedule.lines` read in this process and dropped;
- stdout: the real command, `cartsim produce --to stdout`, its stdout drained by this process;
  the rate counts the bytes after the first read, over the time from the first read to the end;
- embedded broker: `emit` to `KafkaTarget` (4 partitions, acks=all, every delivery awaited).

The machine is shared and its load changes by the second, so the null-sink and stdout runs
take turns (N=1, N=2, stdout N=1, stdout N=2, then again) and each row is the median of
`CARTSIM_BENCH_GENERATION_RUNS` (default 3), with its range; the ratio rows compare medians.
Sizes: `CARTSIM_BENCH_GENERATION_EVENTS` (default 2,000,000) for the null sink and stdout,
`CARTSIM_BENCH_GENERATION_KAFKA_EVENTS` (default 500,000) for the broker.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from bench.results import Result
from cartsim.broker import EmbeddedBroker
from cartsim.kafka import ensure_topic
from cartsim.moments import VIETNAM
from cartsim.producer.catalog import build_catalog
from cartsim.producer.config import JourneyConfig
from cartsim.producer.customers import customer_pools
from cartsim.producer.emit import emit
from cartsim.producer.journeys import backfill_schedule
from cartsim.producer.lines import Reader
from cartsim.producer.pool import runner
from cartsim.producer.targets import KafkaTarget

START = datetime(2024, 11, 1, tzinfo=VIETNAM)
END = datetime(2024, 12, 1, tzinfo=VIETNAM)
SEED = 1
PROCESSES = (1, 2)


def _size(name: str, default: int) -> int:
    return int(os.environ.get(f"CARTSIM_BENCH_GENERATION_{name}", str(default)))


def _null_run(processes: int, count: int) -> float:
    """Events per wall second of one run into a null sink."""
    products, config = build_catalog(), JourneyConfig()
    customer_pools(config.registered_customers, config.guest_profiles)
    with runner(processes, SEED, products, config) as making:
        lines = Reader(backfill_schedule(START, END, count).lines(making))
        done = len(lines.take(1))
        started = time.perf_counter()
        while done < count and (batch := lines.take(min(50_000, count - done))):
            done += len(batch)
        elapsed = time.perf_counter() - started
    assert done == count
    return (count - 1) / elapsed


def _stdout_run(processes: int, count: int, data_dir: Path) -> float:
    """Events per wall second of `cartsim produce --to stdout`, start-up left out."""
    command = [sys.executable, "-m", "cartsim.cli", "produce", "--to", "stdout"]
    command += ["--count", str(count), "--start", START.date().isoformat()]
    command += ["--end", END.date().isoformat(), "--seed", str(SEED)]
    command += ["--processes", str(processes)]
    env = {**os.environ, "CARTSIM_DATA_DIR": str(data_dir)}
    buffer = memoryview(bytearray(1 << 20))
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as cli:
        assert cli.stdout is not None
        first = cli.stdout.readinto1(buffer)
        started = time.perf_counter()
        total = first
        while read := cli.stdout.readinto1(buffer):
            total += read
        elapsed = time.perf_counter() - started
        assert cli.wait() == 0, cli.stderr.read() if cli.stderr else b""
    return count * (total - first) / total / elapsed


async def _to_kafka(bootstrap: str, processes: int, count: int) -> float:
    await ensure_topic(bootstrap, "bench-generation", 4)
    products, config = build_catalog(), JourneyConfig()
    customer_pools(config.registered_customers, config.guest_profiles)
    with runner(processes, SEED, products, config) as making:
        lines = Reader(backfill_schedule(START, END, count).lines(making))
        async with KafkaTarget(bootstrap, "bench-generation") as target:
            started = time.perf_counter()
            sent = await emit(lines, target, count=count)
            await target.flush()
            elapsed = time.perf_counter() - started
    assert sent == count == target.sent
    return count / elapsed


def _kafka_run(processes: int, count: int) -> float:
    with EmbeddedBroker() as broker:
        return asyncio.run(_to_kafka(broker.bootstrap, processes, count))


def _spread(rates: list[float]) -> str:
    return f"median of {len(rates)}, range {min(rates):,.0f}-{max(rates):,.0f}"


def _taking_turns(runs: int, measures: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(runs):
        for name, measure in measures.items():
            rates[name].append(measure())
    return rates


def run() -> list[Result]:
    count, kafka_count = _size("EVENTS", 2_000_000), _size("KAFKA_EVENTS", 500_000)
    runs = _size("RUNS", 3)
    with tempfile.TemporaryDirectory(prefix="cartsim-bench-") as data_dir:
        measures: dict[str, Callable[[], float]] = {}
        for n in PROCESSES:
            measures[f"null {n}"] = lambda n=n: _null_run(n, count)
        for n in PROCESSES:
            measures[f"stdout {n}"] = lambda n=n: _stdout_run(n, count, Path(data_dir))
        for n in PROCESSES:
            measures[f"kafka {n}"] = lambda n=n: _kafka_run(n, kafka_count)
        rates = _taking_turns(runs, measures)
    median = {name: statistics.median(values) for name, values in rates.items()}
    events = f"{count:,} events of a November backfill"
    results = []
    for n in PROCESSES:
        results.append(
            Result(
                f"generate (null sink), --processes {n}",
                median[f"null {n}"],
                "events/s",
                ">= 500,000 per core",
                f"{events}; wall clock, {_spread(rates[f'null {n}'])}",
            )
        )
    results.append(
        Result(
            "generate (null sink): 2 processes / 1",
            median["null 2"] / median["null 1"],
            "x",
            ">= 1.8",
            "ratio of the medians above, 2 cores",
        )
    )
    for n in PROCESSES:
        results.append(
            Result(
                f"cartsim produce --to stdout, --processes {n}",
                median[f"stdout {n}"],
                "events/s",
                ">= 0.9 x null sink",
                f"{events}; {median[f'stdout {n}'] / median[f'null {n}']:.2f} x the null sink; "
                f"wall clock from the first bytes, {_spread(rates[f'stdout {n}'])}",
            )
        )
    for n in PROCESSES:
        results.append(
            Result(
                f"generate + send to embedded broker, --processes {n}",
                median[f"kafka {n}"],
                "events/s",
                ">= 150,000",
                f"{kafka_count:,} events, 4 partitions, acks=all, every delivery awaited; "
                f"wall clock, {_spread(rates[f'kafka {n}'])}",
            )
        )
    return results
