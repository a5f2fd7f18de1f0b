"""Pipeline speed: events/s end to end through one worker, the aggregator's CPU cost, and memory.

1. End to end: the embedded broker, one `cartsim worker` subprocess on a temporary data folder,
   and N pre-generated backfill records (`CARTSIM_BENCH_PIPELINE_EVENTS`, default 300,000) sent
   in chunks; the clock stops when the sink's files and the worker's tables both hold all N.
   The broker's acceptance time is reported too, since producer, broker and worker share the
   machine's cores. The worker runs with dedup off and on (`CARTSIM_DEDUP`), taking turns
   (`CARTSIM_BENCH_PIPELINE_ROUNDS` of each, default 2: off, on, on, off), and their ratio is
   reported.
2. The aggregator alone, in this process: decoding plus `Aggregator.apply` over dict tables, the
   CPU cost per event that bounds a worker.
3. Memory: a clean child process feeds batch-mode events through the aggregator, with sessions
   never expiring, until the sessions table holds 1,000,000 (or a time budget runs out, then the
   per-session cost is extrapolated linearly).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka.partitioner import murmur2

from bench.results import Result
from cartsim.api.tables import TablesClient
from cartsim.api.workers import HttpWorkers
from cartsim.broker import EmbeddedBroker, free_port
from cartsim.kafka import ensure_topic
from cartsim.moments import VIETNAM
from cartsim.processes import stop_process
from cartsim.producer.catalog import load_catalog
from cartsim.producer.journeys import backfill
from cartsim.producer.records import KeyedEvent
from cartsim.producer.targets import KafkaTarget
from cartsim.registry import live_workers
from cartsim.settings import Settings
from cartsim.storage import Layout, read_gzip_members
from cartsim.stream_processors.aggregate import Aggregator, Rules

PARTITIONS = 4
SEND_CHUNK = 20_000
AGGREGATE_BATCH = 2_000
START = datetime(2024, 11, 9, tzinfo=VIETNAM)
END = datetime(2024, 11, 12, tzinfo=VIETNAM)  # three days, 11.11's peak among them
POLL_S = 0.25
MEMORY_SESSIONS = 1_000_000
MEMORY_BUDGET_S = 240.0
MB = 1024 * 1024
TABLE_NAMES = ("totals", "minutes", "sessions", "abandoned")


def _event_count() -> int:
    return int(os.environ.get("CARTSIM_BENCH_PIPELINE_EVENTS", "300000"))


def _proc_status_kb(pid: int, field: str) -> int:
    """A memory figure (kB) from /proc/<pid>/status: VmHWM is the peak resident set."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def _records(count: int, products: Any) -> list[KeyedEvent]:
    """The same backfill for every part, made before any clock starts."""
    return list(backfill(1, START, END, count, products))


class SinkCounter:
    """Counts events in the sink's files incrementally, so polling does not steal the worker's CPU.

    A segment is known by (log, partition, first offset): closing renames it but keeps its
    bytes, so reading resumes where it stopped; only whole gzip members are counted.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.read: dict[tuple[str, int, int], tuple[int, int]] = {}  # -> (bytes, events)

    def count(self) -> int:
        for segment in self.layout.segments():
            key = (segment.log, segment.partition, segment.first_offset)
            position, events = self.read.get(key, (0, 0))
            try:
                with segment.path.open("rb") as file:
                    file.seek(position)
                    data = file.read()
            except FileNotFoundError:
                continue  # renamed meanwhile: the next listing has its new name
            lines, spanned = read_gzip_members(data)
            self.read[key] = (position + spanned, events + len(lines))
        return sum(events for _, events in self.read.values())


async def _table_events(client: TablesClient) -> int:
    snapshot = await client.refresh()
    return sum(entry.events for entry in snapshot.partitions)


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait(
    check: Callable[[], bool], timeout: float, what: str, worker: subprocess.Popen, log: Path
) -> None:
    """Poll until `check` holds; fail loudly, with the worker's log, on a timeout or exit."""
    deadline = time.monotonic() + timeout
    while not check():
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited ({worker.returncode}):\n{_log_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s on {what}:\n{_log_tail(log)}")
        time.sleep(POLL_S)


def _registered(layout: Layout) -> bool:
    """The worker beat, owning every partition: joining the group is done, not timed."""
    return any(len(worker.partitions) == PARTITIONS for worker in live_workers(layout))


async def _drive(
    bootstrap: str,
    topic: str,
    records: list[KeyedEvent],
    layout: Layout,
    worker: subprocess.Popen,
    log: Path,
) -> tuple[float, float, float]:
    """Send everything, then poll files and tables; returns seconds until sent, filed, tabled."""
    count = len(records)
    counter = SinkCounter(layout)
    workers = HttpWorkers(layout, timeout_s=5.0)
    client = TablesClient(workers)
    deadline = max(120.0, count / 2_000)
    try:
        async with KafkaTarget(bootstrap, topic) as target:
            started = time.perf_counter()
            for first in range(0, count, SEND_CHUNK):
                await target.send(records[first : first + SEND_CHUNK])
            await target.flush()
            sent = time.perf_counter() - started
        assert target.sent == count
        stored = tabled = 0
        done: dict[str, float] = {}  # seconds from the first send until files, tables held all
        while True:
            if stored < count:
                stored = await asyncio.to_thread(counter.count)
            if tabled < count:
                tabled = await _table_events(client)
            for name, got in (("files", stored), ("tables", tabled)):
                if got >= count:
                    done.setdefault(name, time.perf_counter() - started)
            if len(done) == 2:
                return sent, done["files"], done["tables"]
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited ({worker.returncode}):\n{_log_tail(log)}")
            if time.perf_counter() - started > deadline:
                raise RuntimeError(
                    f"after {deadline:g} s: {stored:,} of {count:,} events in files, "
                    f"{tabled:,} in tables:\n{_log_tail(log)}"
                )
            await asyncio.sleep(POLL_S)
    finally:
        await workers.close()


@dataclass(frozen=True)
class Run:
    """One worker's timings, in seconds from the first send, and its peak memory."""

    sent: float
    filed: float
    tabled: float
    peak_mb: float

    @property
    def total(self) -> float:
        return max(self.filed, self.tabled)


def _one_worker(records: list[KeyedEvent], root: Path, dedup: bool) -> Run:
    """A fresh broker, topic and data folder, one worker with CARTSIM_DEDUP set, all records."""
    topic = Settings().topic
    layout = Layout(root / "data")
    log = root / "worker.log"
    broker = EmbeddedBroker().start()
    worker: subprocess.Popen[bytes] | None = None
    try:
        asyncio.run(ensure_topic(broker.bootstrap, topic, PARTITIONS))
        env = {
            **os.environ,
            "CARTSIM_KAFKA_BOOTSTRAP": broker.bootstrap,
            "CARTSIM_DATA_DIR": str(layout.root),
            "CARTSIM_WORKER_ID": f"cartsim-bench-{uuid.uuid4().hex[:8]}",
            "CARTSIM_WORKER_PORT": str(free_port()),
            "CARTSIM_PARTITIONS": str(PARTITIONS),
            "CARTSIM_DEDUP": "true" if dedup else "false",
        }
        with log.open("wb") as output:
            worker = subprocess.Popen(
                [sys.executable, "-m", "cartsim.cli", "worker"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait(lambda: _registered(layout), 90, "the worker's heartbeat", worker, log)
        sent, filed, tabled = asyncio.run(
            _drive(broker.bootstrap, topic, records, layout, worker, log)
        )
        return Run(sent, filed, tabled, _proc_status_kb(worker.pid, "VmHWM") / 1024)
    finally:
        if worker is not None:
            stop_process(worker, timeout=15)  # SIGTERM, then SIGKILL after 15 s
        broker.stop()


def _throughput(count: int, runs: list[Run]) -> float:
    """Events/s over all of a mode's runs: total events over total seconds."""
    return count * len(runs) / sum(run.total for run in runs)


def end_to_end() -> list[Result]:
    """One worker, 4 partitions: producer -> broker -> worker -> files + tables.

    Dedup off and on take turns, each on a fresh broker and folder, in the order off, on, on,
    off, off, on...: both modes see the same load on the shared cores, and a load that rises
    or falls through the bench weighs on neither (an even number of rounds cancels a steady
    drift); the headline rows are dedup on, the default.
    """
    count = _event_count()
    rounds = int(os.environ.get("CARTSIM_BENCH_PIPELINE_ROUNDS", "2"))
    runs: dict[bool, list[Run]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="cartsim-bench-pipeline-") as temporary:
        root = Path(temporary)
        records = _records(count, load_catalog(Layout(root / "catalog").products_path))
        size = sum(len(value) for _, value in records) / count
        for turn in range(rounds):
            for dedup in (False, True) if turn % 2 == 0 else (True, False):
                folder = root / f"run-{turn}-{'on' if dedup else 'off'}"
                folder.mkdir()
                runs[dedup].append(_one_worker(records, folder, dedup))
    on, off = runs[True], runs[False]
    on_rate, off_rate = _throughput(count, on), _throughput(count, off)
    data = f"{count:,} backfill events of {size:.0f} B, {PARTITIONS} partitions, one worker"
    turns = f"{rounds} runs each, taking turns off/on/on/off"

    def seconds(mode: list[Run]) -> str:
        return ", ".join(f"{run.total:.1f}" for run in mode)

    first = on[0]
    return [
        Result(
            "end to end: produce -> files + tables",
            on_rate,
            "events/s",
            ">= 20,000 per worker",
            f"{data}; dedup on; first run: all in files at {first.filed:.1f} s, in tables at "
            f"{first.tabled:.1f} s",
        ),
        Result(
            "  of which broker accepts all records",
            count * len(on) / sum(run.sent for run in on),
            "events/s",
            "",
            f"{sum(run.sent for run in on):.1f} s of the {sum(run.total for run in on):.1f} s "
            "(acks=all, worker consuming meanwhile)",
        ),
        Result(
            "worker end to end, dedup off",
            off_rate,
            "events/s",
            "",
            f"{data}; CARTSIM_DEDUP=false; {turns}; seconds {seconds(off)}",
        ),
        Result(
            "worker end to end, dedup on",
            on_rate,
            "events/s",
            "",
            f"{data}; CARTSIM_DEDUP=true; {turns}; seconds {seconds(on)}",
        ),
        Result(
            "dedup on / off",
            on_rate / off_rate,
            "ratio",
            ">= 0.9",
            f"{on_rate:,.0f} / {off_rate:,.0f} events/s = {on_rate / off_rate:.3f}, {turns}",
        ),
        Result(
            "worker peak resident memory",
            max(run.peak_mb for run in on),
            "MB",
            "",
            f"VmHWM of the worker after {count:,} events, dedup on (most of {len(on)} runs)",
        ),
    ]


def _partitioned(records: list[KeyedEvent]) -> list[list[tuple[int, bytes]]]:
    """(offset, value) per partition, split by key like Kafka's default partitioner."""
    partitions: list[list[tuple[int, bytes]]] = [[] for _ in range(PARTITIONS)]
    for key, value in records:
        events = partitions[(murmur2(key) & 0x7FFFFFFF) % PARTITIONS]
        events.append((len(events), value))
    return partitions


def aggregator_alone() -> Result:
    """Decode + aggregate + store the writes, as the worker's thread does, without Kafka."""
    count = _event_count()
    with tempfile.TemporaryDirectory(prefix="cartsim-bench-pipeline-") as temporary:
        products = load_catalog(Layout(Path(temporary)).products_path)
    partitions = _partitioned(_records(count, products))
    stores: dict[str, dict[bytes, bytes]] = {name: {} for name in TABLE_NAMES}
    aggregator = Aggregator(stores, Rules.of(Settings()))
    wall, cpu = time.perf_counter(), time.process_time()
    for partition, events in enumerate(partitions):
        for first in range(0, len(events), AGGREGATE_BATCH):
            chunk = events[first : first + AGGREGATE_BATCH]
            writes, *_ = aggregator.apply(partition, [(o, orjson.loads(v)) for o, v in chunk])
            for name, key, value in writes:
                if value is None:
                    stores[name].pop(key, None)
                else:
                    stores[name][key] = value
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    note = (
        f"{count:,} events, {PARTITIONS} partitions, batches of {AGGREGATE_BATCH:,}, orjson "
        f"decode + writes to dicts; per CPU second, one core ({count / wall:,.0f}/s wall)"
    )
    return Result("aggregator alone (in process)", count / cpu, "events/s", "", note)


def _generate() -> None:
    """Endless batch-mode event values on stdout, one a line (the memory child's feed)."""
    from cartsim.producer.config import JourneyConfig
    from cartsim.producer.journeys import steady

    with tempfile.TemporaryDirectory(prefix="cartsim-bench-pipeline-") as temporary:
        products = load_catalog(Layout(Path(temporary)).products_path)
    config = JourneyConfig()
    out = sys.stdout.buffer
    try:
        for _, value in steady(7, config.batch_rate, products, config):
            out.write(value + b"\n")
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())  # the reader had enough


def _memory_child(target: int, budget_s: float) -> None:
    """In a fresh process: batch-mode events into the aggregator until `target` sessions.

    The generator runs in its own process, so this one's RSS holds only the aggregator and its
    tables. Prints one JSON line: sessions, abandoned, events, RSS before and after (kB), seconds.
    """
    stores: dict[str, dict[bytes, bytes]] = {name: {} for name in TABLE_NAMES}
    aggregator = Aggregator(stores, Rules.of(Settings(session_retention_s=10**12)))
    offsets = [0] * PARTITIONS
    code = "from bench.pipeline import _generate; _generate()"
    feed = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    assert feed.stdout is not None
    lines = iter(feed.stdout)
    base = _proc_status_kb(os.getpid(), "VmRSS")
    started = time.monotonic()
    events = 0
    try:
        while len(stores["sessions"]) < target and time.monotonic() - started < budget_s:
            batches: list[list[tuple[int, dict[str, Any]]]] = [[] for _ in range(PARTITIONS)]
            for _ in range(AGGREGATE_BATCH * PARTITIONS):
                event = orjson.loads(next(lines))
                partition = (murmur2(event["session_id"].encode()) & 0x7FFFFFFF) % PARTITIONS
                batches[partition].append((offsets[partition], event))
                offsets[partition] += 1
            for partition, batch in enumerate(batches):
                writes, *_ = aggregator.apply(partition, batch)
                for name, key, value in writes:
                    if value is None:
                        stores[name].pop(key, None)
                    else:
                        stores[name][key] = value
                events += len(batch)
    finally:
        feed.stdout.close()
        stop_process(feed, timeout=5)
    result = {
        "sessions": len(stores["sessions"]),
        "abandoned": len(stores["abandoned"]),
        "events": events,
        "base_kb": base,
        "rss_kb": _proc_status_kb(os.getpid(), "VmRSS"),
        "seconds": time.monotonic() - started,
    }
    print(orjson.dumps(result).decode())


def session_memory() -> list[Result]:
    """RSS of a clean process whose tables hold 1M sessions (or an extrapolation to it)."""
    code = (
        "from bench.pipeline import _memory_child; "
        f"_memory_child({MEMORY_SESSIONS}, {MEMORY_BUDGET_S})"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=MEMORY_BUDGET_S + 300,
        check=True,
    )
    got = orjson.loads(done.stdout.strip().splitlines()[-1])
    sessions = got["sessions"]
    per_session = (got["rss_kb"] - got["base_kb"]) * 1024 / sessions
    data = (
        f"{got['events']:,} batch-mode events, {sessions:,} sessions, "
        f"{got['abandoned']:,} abandoned carts, retention off, {got['seconds']:.0f} s"
    )
    if sessions >= MEMORY_SESSIONS:
        rss_mb, how = got["rss_kb"] / 1024, f"measured: {data}"
    else:
        rss_mb = (got["base_kb"] * 1024 + per_session * MEMORY_SESSIONS) / MB
        how = f"extrapolated linearly from {data}"
    retention = Settings().session_retention_s
    return [
        Result("resident memory, 1M sessions in tables", rss_mb, "MB", "", how),
        Result(
            "  per session (RSS growth / sessions)",
            per_session,
            "bytes",
            "",
            f"base {got['base_kb'] / 1024:.0f} MB before feeding; in practice sessions "
            f"expire {retention / 3600:g} h of event time after their last event "
            "(CARTSIM_SESSION_RETENTION_S)",
        ),
    ]


def run() -> list[Result]:
    return [*end_to_end(), aggregator_alone(), *session_memory()]
