"""REST API speed over stored simulator events under load: ingest time, freshness, and
requests/s with p50/p99 and errors at 1, 50 and 500 connections, over a live stream.

Events come from the producer's batch generator (the same call the generate endpoint makes) and
are written as segment files by the real sink, flat out, into a temporary data folder; then
`cartsim api` runs on it in its own process. `CARTSIM_BENCH_API_EVENTS` sets how many events
(default 10 million).

/cart/statistics and /cart/abandoned are answered from the stream worker's tables, so a real
worker (`cartsim worker` on an embedded broker) runs whose tables hold the same events: the
files were written under an earlier Kafka log than the new broker's, so the worker rebuilds
that log's tables from them at start (`stream_processors/history.py`, the same aggregator as the
live path) and serves them on its web views as it would live ones; the API reads them as in
production. Pushing the events through the embedded broker instead would build the same tables
more slowly and hold every record in the broker's memory.

Then `cartsim produce` streams live into the broker (`CARTSIM_BENCH_API_STREAM_RATE`, default
1,000 events/s): the worker counts and stores them, the API ingests its segments and checkpoints
its database as in production, and every endpoint is measured meanwhile by wrk (`bench.wrk`),
`CARTSIM_BENCH_API_SECONDS` (default 10) per endpoint and number of connections.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
import orjson

from bench import wrk
from bench.results import Result
from cartsim.api.jobs import simulated_records
from cartsim.broker import EmbeddedBroker, free_port
from cartsim.processes import stop_process
from cartsim.settings import Settings
from cartsim.storage import Layout
from cartsim.stream_processors.sink import SegmentSink

PARTITIONS = 4
WRITE_BATCH = 50_000
SAMPLE_EVERY = 499  # events whose ids the lookups use
PATHS = 2_000  # requests of each endpoint to pick from
CONNECTIONS = (1, 50, 500)
WARM_UP_S = 2.0
FRESH_BATCH = 1_000  # events the freshness check appends after the rest
Params = dict[str, str | int]
Scenarios = dict[str, tuple[int, list[str]]]  # name -> requests/s wanted at 50, paths
FILTERS: tuple[Params, ...] = (
    {"event_type": "view_item"},
    {"event_type": "add_to_cart", "device": "mobile"},
    {"source": "website", "device": "desktop"},
    {"event_type": "purchase", "source": "mobile_app"},
)


@dataclass
class Sample:
    """Ids seen while writing, to look up ones that exist."""

    sessions: list[str] = field(default_factory=list)
    customers: set[int] = field(default_factory=set)
    products: set[int] = field(default_factory=set)
    first_ms: int = 0
    last_ms: int = 0


def write_events(root: Path, count: int) -> Sample:
    """`count` simulated events as closed segments, partitioned by session like Kafka would."""
    settings = Settings(data_dir=root)
    records = simulated_records(settings, seed=1, count=count)
    sink = SegmentSink(Layout(root), "be0c0001", max_bytes=64 << 20, max_age_s=1e9, compresslevel=1)
    offsets = [0] * PARTITIONS
    sample = Sample()
    written = 0
    while written < count:
        batch = []
        for key, value in (next(records) for _ in range(min(WRITE_BATCH, count - written))):
            partition = zlib.crc32(key) % PARTITIONS
            batch.append((partition, offsets[partition], value))
            offsets[partition] += 1
        for _, _, value in batch[::SAMPLE_EVERY]:
            event = orjson.loads(value)
            sample.sessions.append(event["session_id"])
            if event["customer_id"] is not None:
                sample.customers.add(event["customer_id"])
            if event["product_id"] is not None:
                sample.products.add(event["product_id"])
        sample.first_ms = sample.first_ms or orjson.loads(batch[0][2])["timestamp_unix"]
        sample.last_ms = orjson.loads(batch[-1][2])["timestamp_unix"]
        sink.write(batch)
        written += len(batch)
    sink.close()
    return sample


def serve(root: Path, port: int) -> subprocess.Popen[bytes]:
    """The API as `cartsim api` runs it, but with a keep-alive longer than a queued request
    can wait under 50 clients (uvicorn's 5 s default drops pooled connections then)."""
    env = {**os.environ, "CARTSIM_DATA_DIR": str(root)}
    env.pop("CARTSIM_KAFKA_BOOTSTRAP", None)
    command = ["uvicorn", "--factory", "cartsim.api.main:create_app", "--timeout-keep-alive", "60"]
    with (root / "api.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", *command, "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for_count(
    url: str, path: str, field: str, count: float, timeout: float, poll: float
) -> float:
    """Seconds until GET `path` answers at least `count` in `field` (a total of events)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            body = httpx.get(f"{url}{path}", timeout=10).json()
            if body.get(field, -1) >= count:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(poll)
    raise TimeoutError(f"{path} did not count {count:,} events within {timeout:g} s")


def wait_for_rows(url: str, rows: int, timeout: float, poll: float) -> float:
    """Seconds until the API serves `rows` events."""
    return wait_for_count(url, "/cart/events?limit=1", "total", rows, timeout, poll)


def _path(path: str, params: Params | None = None) -> str:
    return f"{path}?{urlencode(params)}" if params else path


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ms // 1000))


def scenarios(sample: Sample, count: int) -> Scenarios:
    """The requests of each endpoint measured: PATHS of each, picked at random by wrk."""
    rng = random.Random(7)
    sessions, customers = sample.sessions, sorted(sample.customers)
    products = sorted(sample.products)
    span = max(1, sample.last_ms - sample.first_ms)
    hour_ms = 3_600_000

    def filtered() -> str:
        params: Params = {"limit": 100, **rng.choice(FILTERS)}
        if rng.random() < 0.5:  # and half of the time, from a moment within the data
            params["start_date"] = _iso(sample.first_ms + rng.randrange(span))
        return _path("/cart/events", params)

    def last_hours() -> str:
        start = _iso(int(time.time() * 1000) - rng.choice((1, 6)) * hour_ms)
        return _path("/cart/statistics", {"start_date": start})

    def abandoned() -> str:
        params = {"limit": rng.choice((10, 50, 200)), "hours_threshold": rng.choice((1, 2, 6, 24))}
        return _path("/cart/abandoned", params)

    made: dict[str, tuple[int, Callable[[], str]]] = {
        "/cart/events filtered, limit=100": (400, filtered),
        "/cart/events offset page": (
            400,
            lambda: _path("/cart/events", {"limit": 100, "offset": rng.randrange(count)}),
        ),
        "session lookup": (400, lambda: f"/cart/events/session/{rng.choice(sessions)}"),
        "customer lookup": (
            400,
            lambda: _path(f"/cart/events/customer/{rng.choice(customers)}", {"limit": 100}),
        ),
        "product lookup": (
            400,
            lambda: _path(f"/cart/events/product/{rng.choice(products)}", {"limit": 100}),
        ),
        "/cart/statistics": (
            2000,
            lambda: _path("/cart/statistics", {"top": rng.choice((5, 10, 20))}),
        ),
        "/cart/statistics, last 1 or 6 hours": (2000, last_hours),
        "/cart/abandoned": (400, abandoned),
    }
    return {name: (rate, [make() for _ in range(PATHS)]) for name, (rate, make) in made.items()}


def _cpu_s(pid: int) -> float:
    """CPU seconds (user and system) process `pid` has used, from Linux's /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load(
    url: str, paths: list[str], connections: int, seconds: float, api: int
) -> tuple[wrk.Load, str]:
    """One wrk run's figures, and the API's CPU per request: on shared cores the one that
    carries from machine to machine (the API's background ingest and refresh included)."""
    # wrk leaves requests behind when it stops (up to one per connection), and the API answers
    # them all: one more of the same kind returns once they are done, so each run starts idle
    httpx.get(url + paths[0], timeout=600)
    before = _cpu_s(api)
    load = wrk.run(url, paths, connections, seconds)
    cpu_ms = (_cpu_s(api) - before) * 1000 / max(1, load.requests)
    return load, f"{load.summary()}, API CPU {cpu_ms:.1f} ms/request"


def _measured(url: str, named: Scenarios, seconds: float, api: int) -> list[Result]:
    """Per endpoint, wrk at 1, 50 and 500 connections, each figure beside its target."""
    results = []
    for name, (wanted, paths) in named.items():
        wrk.run(url, paths, connections=4, seconds=WARM_UP_S)  # connections and caches
        (solo, solo_notes), (busy, busy_notes), (crowd, crowd_notes) = (
            _load(url, paths, c, seconds, api) for c in CONNECTIONS
        )
        ratio = solo.p99_ms / solo.p50_ms if solo.p50_ms else 0.0
        failed = crowd.errors + crowd.timeouts
        results += [
            Result(f"{name}: p99 / p50, 1 connection", ratio, "x", "<= 3", solo_notes),
            Result(f"{name}: 50 connections", busy.rate, "req/s", f">= {wanted}", busy_notes),
            Result(f"{name}: errors, 500 connections", failed, "", "0", crowd_notes),
        ]
    return results


def start_worker(root: Path, bootstrap: str) -> subprocess.Popen[bytes]:
    """`cartsim worker` over the bench's data folder, as `cartsim up` would start it."""
    env = {
        **os.environ,
        "CARTSIM_DATA_DIR": str(root),
        "CARTSIM_KAFKA_BOOTSTRAP": bootstrap,
        "CARTSIM_WORKER_ID": f"cartsim-bench-{os.getpid()}",
        "CARTSIM_WORKER_PORT": str(free_port()),
    }
    return _child(root, "worker", env, ["worker", "--loglevel", "warning"])


def start_stream(root: Path, bootstrap: str, rate: float) -> subprocess.Popen[bytes]:
    """`cartsim produce` live at `rate` events/s into the broker, for the worker to store."""
    env = {**os.environ, "CARTSIM_DATA_DIR": str(root), "CARTSIM_KAFKA_BOOTSTRAP": bootstrap}
    command = ["produce", "--rate", f"{rate:g}", "--seed", "3", "--processes", "1"]
    return _child(root, "produce", env, command)


def _child(root: Path, name: str, env: dict[str, str], args: list[str]) -> subprocess.Popen[bytes]:
    with (root / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cartsim.cli", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _live(root: Path, url: str, count: int, sample: Sample, api: int) -> list[Result]:
    """Every endpoint under wrk, with a real worker whose tables hold the bench's `count`
    events and a live stream flowing through the broker, the worker and the API's ingest."""
    results = []
    rate = float(os.environ.get("CARTSIM_BENCH_API_STREAM_RATE", "1000"))
    seconds = float(os.environ.get("CARTSIM_BENCH_API_SECONDS", "10"))
    with EmbeddedBroker() as broker:
        worker = start_worker(root, broker.bootstrap)
        stream = None
        try:
            # the worker's tables hold every event
            rebuilt = wait_for_count(url, "/cart/statistics", "total_events", count, 3600, 1.0)
            notes = f"{count:,} events, from start"
            results.append(Result("worker: tables rebuilt from the files", rebuilt, "s", "", notes))
            stream = start_stream(root, broker.bootstrap, rate)
            wait_for_count(url, "/cart/statistics", "total_events", count + 2 * rate, 120, 0.5)
            results.extend(_measured(url, scenarios(sample, count), seconds, api))
            total = httpx.get(f"{url}/cart/events?limit=1", timeout=30).json()["total"]
            notes = f"{rate:,.0f} events/s live, {total - count:,} stored by the end"
            results.append(
                Result("live stream during the load", total - count, "events", "", notes)
            )
        finally:
            if stream is not None:
                stop_process(stream, timeout=30)
            stop_process(worker, timeout=30)
    return results


def run() -> list[Result]:
    count = int(os.environ.get("CARTSIM_BENCH_API_EVENTS", "10000000"))
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="cartsim-bench-api-") as temporary:
        root = Path(temporary)
        started = time.perf_counter()
        sample = write_events(root, count)
        wrote = time.perf_counter() - started
        results.append(Result("generate + write segments", wrote, "s", notes=f"{count:,} events"))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        api = serve(root, port)
        try:
            ingest = wait_for_rows(url, count, timeout=3600, poll=0.5)
            results.append(Result("ingest into DuckDB", ingest, "s", notes=f"{count:,} events"))
            results.append(Result("ingest rate", count / ingest, "events/s"))
            results.append(_freshness(root, url, count))
            results.extend(_live(root, url, count + FRESH_BATCH, sample, api.pid))
            results.append(_disk(root, url))
        finally:
            stop_process(api, timeout=30)
    return results


def _disk(root: Path, url: str) -> Result:
    """Bytes per stored event of the API's copy: its DuckDB file, write-ahead log, payload files
    and scratch files."""
    total = httpx.get(f"{url}/cart/events?limit=1", timeout=30).json()["total"]
    folder = Layout(root).api_dir
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    notes = f"{size / 1e6:,.0f} MB for {total:,} events"
    return Result("API's copy of the events on disk", size / total, "B/event", "<= 150", notes)


def _freshness(root: Path, url: str, count: int) -> Result:
    """Seconds from a batch reaching an open segment to its events being served."""
    sink = SegmentSink(Layout(root), "be0c0002", max_bytes=64 << 20, max_age_s=1e9)
    records = simulated_records(Settings(data_dir=root), seed=2, count=FRESH_BATCH)
    sink.write((0, offset, value) for offset, (_, value) in enumerate(records))
    seconds = wait_for_rows(url, count + FRESH_BATCH, timeout=60, poll=0.02)
    sink.close()
    notes = f"{FRESH_BATCH:,} events, one batch"
    return Result("freshness: file to query", seconds, "s", "a few s", notes)
