"""`cartsim transform` speed: events/s and peak RSS over stored segments, beside a naive pass.

Stored events are made fast: `CARTSIM_BENCH_TRANSFORM_BASE` events (default 250,000) come from
the simulator through the real sink (four partitions), then DuckDB copies them under other Kafka
logs with every event, session and order id made unique per copy, as gzip JSON-lines segments
named as the sink names them. Each size is transformed from scratch by `cartsim transform` in
its own process (DuckDB with the default --memory-limit 2GB; Spark on local[2]); peak RSS is
the largest sum of the resident memory of that process and its children (Spark's JVM), sampled
every 0.1 s. The anchor is the way the seed's scripts read `cart_events.json.gz`: gzip and
`json.loads` per line into dicts, summed into metrics_daily's counts in Python, one core.

Sizes: `CARTSIM_BENCH_TRANSFORM_DUCKDB` (default "1000000,10000000"),
`CARTSIM_BENCH_TRANSFORM_SPARK` (default "1000000"), `CARTSIM_BENCH_TRANSFORM_NAIVE` (default
1000000; events the anchor reads).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from bench.results import Result
from cartsim.api.jobs import simulated_records
from cartsim.settings import Settings
from cartsim.storage import Layout, Segment
from cartsim.stream_processors.sink import SegmentSink
from cartsim.transformation.tables import RAW_FIELDS

PARTITIONS = 4
BASE_LOG = "be0c0002"


def _sizes(name: str, default: str) -> list[int]:
    return [int(n) for n in os.environ.get(name, default).split(",") if n.strip()]


def write_base(root: Path, count: int) -> None:
    """`count` simulated events as closed segments, partitioned by session like Kafka."""
    records = simulated_records(Settings(data_dir=root), seed=3, count=count)
    sink = SegmentSink(Layout(root), BASE_LOG, max_bytes=1 << 40, max_age_s=1e9, compresslevel=1)
    offsets = [0] * PARTITIONS
    batch = []
    for key, value in records:
        partition = zlib.crc32(key) % PARTITIONS
        batch.append((partition, offsets[partition], value))
        offsets[partition] += 1
        if len(batch) == 50_000:
            sink.write(batch)
            batch = []
    sink.write(batch)
    sink.close()


def make_store(base: Path, root: Path, count: int) -> int:
    """A data folder of at least `count` events: copies of `base` under other logs."""
    events_dir = Layout(root).ensure().events_dir
    segments = Layout(base).closed_segments()
    per_copy = sum((s.last_offset or 0) - s.first_offset + 1 for s in segments)
    copies = -(-count // per_copy)
    fields = {"timestamp": "VARCHAR", **RAW_FIELDS}
    columns = ", ".join(f"'{k}': '{v}'" for k, v in fields.items())
    renamed = {
        "event_id": "'evt_' || $tag || substr(event_id, 5)",
        "session_id": "'sess_' || $tag || substr(session_id, 6)",
        "order_id": "CASE WHEN order_id IS NOT NULL THEN $tag || order_id END",
    }
    select = ", ".join(f'{renamed.get(k, chr(34) + k + chr(34))} AS "{k}"' for k in fields)
    with duckdb.connect() as con:
        for copy in range(copies):
            log = f"{0xC0000000 + copy:08x}"
            for segment in segments:
                assert segment.last_offset is not None
                name = Segment.closed_name(
                    log, segment.partition, segment.first_offset, segment.last_offset
                )
                con.execute(
                    f"COPY (SELECT {select} FROM read_json('{segment.path}', "
                    f"format = 'newline_delimited', columns = {{{columns}}})) "
                    f"TO '{events_dir / name}' (FORMAT json, COMPRESSION gzip)",
                    {"tag": f"{copy:03d}"},
                )
    return copies * per_copy


class PeakRss:
    """The largest resident set of a process and its descendants, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.done = pid, 0, False
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _tree(self) -> list[int]:
        found, frontier = [self.pid], [self.pid]
        while frontier:
            pid = frontier.pop()
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            found.extend(int(c) for c in children)
            frontier.extend(int(c) for c in children)
        return found

    def _sample(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self.done:
            total = 0
            for pid in self._tree():
                try:
                    total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
                except OSError:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.1)

    def stop(self) -> int:
        self.done = True
        self.thread.join()
        return self.peak


def run_transform(store: Path, out: Path, *options: str) -> tuple[float, int]:
    """(seconds, peak RSS bytes) of one `cartsim transform` from scratch."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "cartsim.cli", "transform", "--from", str(store)]
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--out", str(out), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = PeakRss(process.pid)
    assert process.stderr is not None
    stderr = process.stderr.read()
    # wait4: this child's own peak (RUSAGE_CHILDREN would be the largest child of the bench).
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    peak = max(sampler.stop(), usage.ru_maxrss * 1024)
    if process.returncode != 0:
        raise RuntimeError(f"cartsim transform failed: {stderr[-2000:]}")
    return elapsed, peak


def naive_metrics_daily(store: Path, limit: int) -> tuple[float, int]:
    """(seconds, events) of metrics_daily's counts the seed's way: gzip + json.loads per line."""
    vietnam = timedelta(hours=7)
    days: dict[str, Counter[str]] = defaultdict(Counter)
    first_seen: dict[str, str] = {}
    read = 0
    started = time.perf_counter()
    for segment in Layout(store).closed_segments():
        with gzip.open(segment.path, "rt", encoding="utf-8") as file:
            for line in file:
                event = json.loads(line)
                day = (datetime.utcfromtimestamp(event["timestamp_unix"] / 1000) + vietnam).date()
                counts = days[day.isoformat()]
                counts["events"] += 1
                counts[f"events_{event['event_type']}"] += 1
                counts[f"source_{event['source']}"] += 1
                counts[f"device_{event['device']}"] += 1
                if event["event_type"] == "purchase":
                    counts["orders"] += 1
                    counts["revenue_vnd"] += event.get("cart_total_vnd") or 0
                if event["session_id"] not in first_seen:
                    first_seen[event["session_id"]] = day.isoformat()
                    counts["sessions"] += 1
                read += 1
                if read >= limit:
                    return time.perf_counter() - started, read
    return time.perf_counter() - started, read


def _row(name: str, events: int, seconds: float, peak: int, target: str, note: str) -> list[Result]:
    return [
        Result(f"{name}: {events:,} events", events / seconds, "events/s", target, note),
        Result(f"{name}: {events:,} events, peak RSS", peak / 2**20, "MiB", "< 3,072", note),
    ]


def run() -> list[Result]:
    duckdb_sizes = _sizes("CARTSIM_BENCH_TRANSFORM_DUCKDB", "1000000,10000000")
    spark_sizes = _sizes("CARTSIM_BENCH_TRANSFORM_SPARK", "1000000")
    naive_limit = int(os.environ.get("CARTSIM_BENCH_TRANSFORM_NAIVE", "1000000"))
    base_count = int(os.environ.get("CARTSIM_BENCH_TRANSFORM_BASE", "250000"))
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="cartsim-bench-transform-") as temporary:
        work = Path(temporary)
        write_base(work / "base", base_count)
        stores: dict[int, tuple[Path, int]] = {}
        for size in sorted({*duckdb_sizes, *spark_sizes, naive_limit}):
            store = work / f"store-{size}"
            stores[size] = (store, make_store(work / "base", store, size))
        naive_store = stores[naive_limit][0]
        seconds, read = naive_metrics_daily(naive_store, naive_limit)
        naive_rate = read / seconds
        results.append(
            Result(
                f"naive Python metrics_daily: {read:,} events",
                naive_rate,
                "events/s",
                "anchor",
                "gzip + json.loads per line into dicts, counts summed in Python, one core",
            )
        )
        for size in duckdb_sizes:
            store, events = stores[size]
            seconds, peak = run_transform(store, work / "out", "--memory-limit", "2GB")
            note = f"all six tables, --memory-limit 2GB; {events / seconds / naive_rate:.1f}x naive"
            target = ">= 300,000; >= 20x naive"
            results.extend(_row("transform duckdb", events, seconds, peak, target, note))
        for size in spark_sizes:
            store, events = stores[size]
            seconds, peak = run_transform(
                store, work / "out", "--engine", "spark", "--spark-master", "local[2]"
            )
            note = f"all six tables, local[2]; {events / seconds / naive_rate:.1f}x naive"
            results.extend(_row("transform spark", events, seconds, peak, "", note))
    return results
