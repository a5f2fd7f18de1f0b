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
Each row also gives the CPU time per event over the same window (from /proc: the producer, the
generator processes, the broker), which other work on the machine changes far less than rates:
how the work is shared out says what N cores could do, whatever the load was.
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
from dataclasses import dataclass, field
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
from cartsim.producer.merge import Runner
from cartsim.producer.pool import GeneratorPool, runner
from cartsim.producer.targets import KafkaTarget

START = datetime(2024, 11, 1, tzinfo=VIETNAM)
END = datetime(2024, 12, 1, tzinfo=VIETNAM)
SEED = 1
PROCESSES = (1, 2)


def _size(name: str, default: int) -> int:
    return int(os.environ.get(f"CARTSIM_BENCH_GENERATION_{name}", str(default)))


@dataclass
class Run:
    """One run's events per wall second, and CPU seconds per event by whose they were."""

    rate: float
    cpu: dict[str, float] = field(default_factory=dict)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user and system, every thread) a live process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _family(pid: int) -> list[int]:
    """`pid` and every live process below it."""
    found, todo = [], [pid]
    while todo:
        found.append(current := todo.pop())
        for task in Path(f"/proc/{current}/task").iterdir():
            todo += map(int, (task / "children").read_text().split())
    return found


def _generators(making: Runner) -> list[int]:
    return [child.pid for child in making.children] if isinstance(making, GeneratorPool) else []


class _Clock:
    """Wall time and the CPU time of named groups of processes, from `start` to `stop`."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.cpu = {name: -sum(map(_cpu_s, pids)) for name, pids in groups.items()}
        self.started = time.perf_counter()
        self.elapsed = 0.0

    def stop(self) -> None:
        self.elapsed = time.perf_counter() - self.started
        for name, pids in self.groups.items():
            self.cpu[name] += sum(map(_cpu_s, pids))

    def run(self, events: int) -> Run:
        return Run(events / self.elapsed, {name: s / events for name, s in self.cpu.items()})


def _null_run(processes: int, count: int) -> Run:
    """One run into a null sink."""
    products, config = build_catalog(), JourneyConfig()
    customer_pools(config.registered_customers, config.guest_profiles)
    with runner(processes, SEED, products, config) as making:
        lines = Reader(backfill_schedule(START, END, count).lines(making))
        done = len(lines.take(1))
        clock = _Clock({"producer": [os.getpid()], "generators": _generators(making)})
        while done < count and (batch := lines.take(min(50_000, count - done))):
            done += len(batch)
        clock.stop()
    assert done == count
    return clock.run(count - 1)


def _stdout_run(processes: int, count: int, data_dir: Path) -> Run:
    """One run of `cartsim produce --to stdout`, start-up left out; its CPU is the command's
    and its generators', until it has exited."""
    command = [sys.executable, "-m", "cartsim.cli", "produce", "--to", "stdout"]
    command += ["--count", str(count), "--start", START.date().isoformat()]
    command += ["--end", END.date().isoformat(), "--seed", str(SEED)]
    command += ["--processes", str(processes)]
    env = {**os.environ, "CARTSIM_DATA_DIR": str(data_dir)}
    buffer = memoryview(bytearray(1 << 20))
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as cli:
        assert cli.stdout is not None
        first = cli.stdout.readinto1(buffer)
        cpu = -sum(map(_cpu_s, _family(cli.pid)))
        started = time.perf_counter()
        total = first
        while read := cli.stdout.readinto1(buffer):
            total += read
        elapsed = time.perf_counter() - started
        _, status, usage = os.wait4(cli.pid, 0)  # its own CPU and its generators'
        cli.returncode = os.waitstatus_to_exitcode(status)
        assert cli.returncode == 0, cli.stderr.read() if cli.stderr else b""
    events = count * (total - first) / total
    cpu += usage.ru_utime + usage.ru_stime
    return Run(events / elapsed, {"producer and generators": cpu / events})


async def _to_kafka(broker: EmbeddedBroker, processes: int, count: int) -> Run:
    await ensure_topic(broker.bootstrap, "bench-generation", 4)
    assert broker.process is not None
    products, config = build_catalog(), JourneyConfig()
    customer_pools(config.registered_customers, config.guest_profiles)
    with runner(processes, SEED, products, config) as making:
        lines = Reader(backfill_schedule(START, END, count).lines(making))
        async with KafkaTarget(broker.bootstrap, "bench-generation") as target:
            first = await asyncio.to_thread(lines.take, 1)  # the generators have started
            groups = {"producer": [os.getpid()], "generators": _generators(making)}
            clock = _Clock({**groups, "broker": [broker.process.pid]})
            sent = await target.send(first)
            sent += await emit(lines, target, count=count - 1)
            await target.flush()
            clock.stop()
    assert sent == count == target.sent
    return clock.run(count)


def _kafka_run(processes: int, count: int) -> Run:
    with EmbeddedBroker() as broker:
        return asyncio.run(_to_kafka(broker, processes, count))


def _spread(rates: list[float]) -> str:
    return f"median of {len(rates)}, range {min(rates):,.0f}-{max(rates):,.0f}"


def _cpu_note(runs: list[Run]) -> str:
    """Median CPU per event of each group, and the broker's share of the wall clock."""
    parts = []
    for name in runs[0].cpu:
        parts.append(f"{name} {statistics.median(run.cpu[name] for run in runs) * 1e6:.2f}")
    note = f"CPU per event (µs, median): {', '.join(parts)}"
    if "broker" in runs[0].cpu:
        cores = statistics.median(run.cpu["broker"] * run.rate for run in runs)
        note += f"; the broker used {cores:.2f} cores"
    return note


def _taking_turns(
    runs: int, measures: dict[str, Callable[[], Run]]
) -> tuple[dict[str, list[Run]], list[float]]:
    """Every measure `runs` times in turn, and the load average (1 min) before each turn."""
    made: dict[str, list[Run]] = {name: [] for name in measures}
    loads = []
    for _ in range(runs):
        loads.append(os.getloadavg()[0])
        for name, measure in measures.items():
            made[name].append(measure())
    return made, loads


def run() -> list[Result]:
    count, kafka_count = _size("EVENTS", 2_000_000), _size("KAFKA_EVENTS", 500_000)
    runs = _size("RUNS", 3)
    with tempfile.TemporaryDirectory(prefix="cartsim-bench-") as data_dir:
        measures: dict[str, Callable[[], Run]] = {}
        for n in PROCESSES:
            measures[f"null {n}"] = lambda n=n: _null_run(n, count)
        for n in PROCESSES:
            measures[f"stdout {n}"] = lambda n=n: _stdout_run(n, count, Path(data_dir))
        for n in PROCESSES:
            measures[f"kafka {n}"] = lambda n=n: _kafka_run(n, kafka_count)
        made, loads = _taking_turns(runs, measures)
    rates = {name: [run.rate for run in values] for name, values in made.items()}
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
                f"{events}; wall clock, {_spread(rates[f'null {n}'])}; "
                f"{_cpu_note(made[f'null {n}'])}",
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
                f"wall clock from the first bytes, {_spread(rates[f'stdout {n}'])}; "
                f"{_cpu_note(made[f'stdout {n}'])}",
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
                f"wall clock, {_spread(rates[f'kafka {n}'])}; {_cpu_note(made[f'kafka {n}'])}",
            )
        )
    results.append(
        Result(
            "load average (1 min) before each turn of the generation bench",
            statistics.median(loads),
            "",
            "",
            f"median; range {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores",
        )
    )
    return results
