"""REST API speed over stored simulator events: ingest time, freshness, and request latency.

Events come from the producer's batch generator (the same call the generate endpoint makes) and
are written as segment files by the real sink, flat out, into a temporary data folder; then
`cartsim api` runs on it in its own process and a load client (httpx, loopback only, a bounded
number of requests) measures p50/p95 with one client and with 50 concurrent ones.
`CARTSIM_BENCH_API_EVENTS` sets how many events (default 10 million).

/cart/statistics and /cart/abandoned are answered from the stream worker's tables, so they are
measured against a real worker (`cartsim worker` on an embedded broker) whose tables hold the
same events: the files were written under an earlier Kafka log than the new broker's, so the
worker rebuilds that log's tables from them at start (`stream_processors/history.py`, the same
aggregator as the live path, which the tests compare with a recount) and serves them on its web
views as it would live ones; the API reads them as in production (its snapshot every 0.25 s for
statistics, the worker per request for abandoned carts and date ranges). Pushing the events
through the embedded broker instead would build the same tables more slowly and hold every
record in the broker's memory; a hand-made snapshot would skip the worker's views and the API's
reading of them, which are part of what these requests cost. The event endpoints are measured
before the worker starts, so they have the CPU to themselves; the idle worker then runs beside
the API while the table endpoints are measured.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from bench.results import Result
from cartsim.api.jobs import simulated_records
from cartsim.broker import EmbeddedBroker, free_port
from cartsim.processes import stop_process
from cartsim.settings import Settings
from cartsim.storage import Layout
from cartsim.stream_processors.sink import SegmentSink

PARTITIONS = 4
WRITE_BATCH = 50_000
SOLO_REQUESTS = 300
CONCURRENT_CLIENTS = 50
CONCURRENT_REQUESTS = 1_000
FRESH_BATCH = 1_000  # events the freshness check appends after the rest
Params = dict[str, str | int]
Scenarios = dict[str, tuple[str, Callable[[], tuple[str, Params]]]]  # name -> target, requests
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
        event = orjson.loads(batch[0][2])
        sample.sessions.append(event["session_id"])
        if event["customer_id"] is not None:
            sample.customers.add(event["customer_id"])
        if event["product_id"] is not None:
            sample.products.add(event["product_id"])
        sample.first_ms = sample.first_ms or event["timestamp_unix"]
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
    url: str, path: str, field: str, count: int, timeout: float, poll: float
) -> float:
    """Seconds until GET `path` answers `count` in `field` (a total of events)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            body = httpx.get(f"{url}{path}", timeout=10).json()
            if body.get(field) == count:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(poll)
    raise TimeoutError(f"{path} did not count {count:,} events within {timeout:g} s")


def wait_for_rows(url: str, rows: int, timeout: float, poll: float) -> float:
    """Seconds until the API serves `rows` events."""
    return wait_for_count(url, "/cart/events?limit=1", "total", rows, timeout, poll)


async def _timed(client: httpx.AsyncClient, path: str, params: Params) -> float:
    started = time.perf_counter()
    response = await client.get(path, params=params)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{path} {params}: HTTP {response.status_code} {response.text[:200]}")
    return elapsed


async def _load(url: str, requests: Callable[[], tuple[str, Params]]) -> list[Result]:
    """p50/p95 with one client, then with 50 concurrent clients, and requests/s at 50."""
    limits = httpx.Limits(max_connections=CONCURRENT_CLIENTS)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        for _ in range(30):  # warm up connections and caches
            await _timed(client, *requests())
        solo = [await _timed(client, *requests()) for _ in range(SOLO_REQUESTS)]
        per_client = CONCURRENT_REQUESTS // CONCURRENT_CLIENTS

        async def one_client() -> list[float]:
            return [await _timed(client, *requests()) for _ in range(per_client)]

        started = time.perf_counter()
        results = await asyncio.gather(*(one_client() for _ in range(CONCURRENT_CLIENTS)))
        wall = time.perf_counter() - started
    together = [elapsed for batch in results for elapsed in batch]
    return _rows(solo, together, CONCURRENT_REQUESTS / wall)


def _rows(solo: list[float], together: list[float], rate: float) -> list[Result]:
    def pct(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1] * 1000

    return [
        Result("p50, 1 client", pct(solo, 50), "ms"),
        Result("p95, 1 client", pct(solo, 95), "ms"),
        Result("p50, 50 clients", pct(together, 50), "ms"),
        Result("p95, 50 clients", pct(together, 95), "ms"),
        Result("throughput, 50 clients", rate, "req/s"),
    ]


def scenarios(sample: Sample) -> Scenarios:
    rng = random.Random(7)
    customers, products = sorted(sample.customers), sorted(sample.products)
    span = max(1, sample.last_ms - sample.first_ms)

    def events() -> tuple[str, Params]:
        params: Params = {"limit": 100, **rng.choice(FILTERS)}
        if rng.random() < 0.5:  # and half of the time, from a moment within the data
            start_s = (sample.first_ms + rng.randrange(span)) // 1000
            params["start_date"] = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start_s))
        return "/cart/events", params

    return {
        "/cart/events filtered, limit=100": ("<= 25 ms p95 (1 client)", events),
        "session lookup": (
            "<= 10 ms p95",
            lambda: (f"/cart/events/session/{rng.choice(sample.sessions)}", {}),
        ),
        "customer lookup": (
            "<= 10 ms p95",
            lambda: (f"/cart/events/customer/{rng.choice(customers)}", {"limit": 100}),
        ),
        "product lookup": (
            "<= 10 ms p95",
            lambda: (f"/cart/events/product/{rng.choice(products)}", {"limit": 100}),
        ),
    }


def start_worker(root: Path, bootstrap: str) -> subprocess.Popen[bytes]:
    """`cartsim worker` over the bench's data folder, as `cartsim up` would start it."""
    env = {
        **os.environ,
        "CARTSIM_DATA_DIR": str(root),
        "CARTSIM_KAFKA_BOOTSTRAP": bootstrap,
        "CARTSIM_WORKER_ID": f"cartsim-bench-{os.getpid()}",
        "CARTSIM_WORKER_PORT": str(free_port()),
    }
    with (root / "worker.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cartsim.cli", "worker", "--loglevel", "warning"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def table_scenarios(sample: Sample) -> Scenarios:
    """Statistics without and with a date range, and abandoned carts over a mix of limits and
    idle thresholds (a day is longer than the data at 10 M events: nothing qualifies)."""
    rng = random.Random(11)
    hour_ms = 3_600_000

    def last_hours() -> tuple[str, Params]:
        start_s = (sample.last_ms - rng.choice((1, 6)) * hour_ms) // 1000
        start = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start_s))
        return "/cart/statistics", {"start_date": start}

    def abandoned() -> tuple[str, Params]:
        params = {"limit": rng.choice((10, 50, 200)), "hours_threshold": rng.choice((1, 2, 6, 24))}
        return "/cart/abandoned", params

    return {
        "/cart/statistics": ("<= 10 ms p95", lambda: ("/cart/statistics", {})),
        "/cart/statistics, last 1 or 6 hours": ("<= 10 ms p95", last_hours),
        "/cart/abandoned": ("<= 25 ms p95", abandoned),
    }


def _measured(url: str, named: Scenarios) -> list[Result]:
    """Each scenario's latency rows, its target beside the one-client p95 it is set for."""
    results = []
    for name, (target, requests) in named.items():
        for row in asyncio.run(_load(url, requests)):
            wanted = target if row.name == "p95, 1 client" else ""
            results.append(Result(f"{name}: {row.name}", row.value, row.unit, wanted))
    return results


def _tables(root: Path, url: str, count: int, sample: Sample) -> list[Result]:
    """Table endpoints against a real worker whose tables hold the bench's `count` events."""
    results = []
    with EmbeddedBroker() as broker:
        worker = start_worker(root, broker.bootstrap)
        try:
            # the worker's tables hold every event
            rebuilt = wait_for_count(url, "/cart/statistics", "total_events", count, 3600, 1.0)
            notes = f"{count:,} events, from start"
            results.append(Result("worker: tables rebuilt from the files", rebuilt, "s", "", notes))
            results.extend(_measured(url, table_scenarios(sample)))
        finally:
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
            results.extend(_measured(url, scenarios(sample)))
            results.extend(_tables(root, url, count + FRESH_BATCH, sample))
        finally:
            stop_process(api, timeout=30)
    return results


def _freshness(root: Path, url: str, count: int) -> Result:
    """Seconds from a batch reaching an open segment to its events being served."""
    sink = SegmentSink(Layout(root), "be0c0002", max_bytes=64 << 20, max_age_s=1e9)
    records = simulated_records(Settings(data_dir=root), seed=2, count=FRESH_BATCH)
    sink.write((0, offset, value) for offset, (_, value) in enumerate(records))
    seconds = wait_for_rows(url, count + FRESH_BATCH, timeout=60, poll=0.02)
    sink.close()
    notes = f"{FRESH_BATCH:,} events, one batch"
    return Result("freshness: file to query", seconds, "s", "a few s", notes)
