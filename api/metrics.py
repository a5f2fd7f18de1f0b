"""The API's Prometheus metrics: request latency by route, and the state it serves.

Every app has a registry of its own (tests run several apps in one process). Latency is timed by
`RequestTimer`, a pure ASGI middleware (Starlette's BaseHTTPMiddleware would add a task and a
stream per request); everything else is read from the app's state when /metrics is scraped, so
nothing on the request path works to feed it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cartsim.api.tables import Snapshot

#: From half a millisecond (a cached statistics answer) to ten seconds (a cold date range).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
JOB_STATES = ("running", "succeeded", "failed", "cancelled")


class RequestTimer:
    """Observes each HTTP request's duration under its route template (`/cart/events/session/
    {session_id}`, never the raw path, so the series stay few) and status. Event streams are
    left out: their duration is how long a page stayed open."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, streaming = 500, False

        async def sending(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = dict(message.get("headers", ()))
                streaming = headers.get(b"content-type", b"").startswith(b"text/event-stream")
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if not streaming:
                route = getattr(scope.get("route"), "path", "unmatched")
                self.histogram.labels(scope["method"], route, str(status)).observe(
                    time.perf_counter() - started
                )


def _gauge(name: str, documentation: str, value: float | None) -> Iterator[Metric]:
    if value is not None:
        yield GaugeMetricFamily(name, documentation, value=value)


def _labelled(
    name: str, documentation: str, labels: list[str], rows: Iterable[tuple[list[str], float]]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for values, value in rows:
        family.add_metric(values, value)
    return family


class ApiCollector(Collector):
    """Ingest progress and lag, the workers' tables as the API merged them, the generation job
    and the dashboard's listeners, read from the app's state at scrape time."""

    def __init__(self, state: State) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        state = self.state
        ingester = getattr(state, "ingester", None)  # set once the lifespan has started
        if ingester is not None:
            yield from self._ingest(ingester.status)
        tables = getattr(state, "tables", None)
        if tables is not None:
            yield from self._tables(tables.snapshot)
        generator = getattr(state, "generator", None)
        if generator is not None and generator.job is not None:
            yield from self._job(generator.job.status())
        feed = getattr(state, "feed", None)
        if feed is not None:
            yield GaugeMetricFamily(
                "cartsim_dashboard_listeners", "Dashboard pages streaming now.", feed.listeners
            )

    def _ingest(self, status: Any) -> Iterator[Metric]:
        yield GaugeMetricFamily("cartsim_ingest_rows", "Events queryable in DuckDB.", status.rows)
        yield GaugeMetricFamily(
            "cartsim_ingest_segments", "Segment files ingested.", status.segments
        )
        yield GaugeMetricFamily(
            "cartsim_ingest_pending_bytes",
            "Segment bytes not yet queryable (a gzip member the sink is writing).",
            status.pending_bytes,
        )
        yield from _gauge(
            "cartsim_ingest_lag_seconds",
            "Seconds from the sink's write of a segment to its events being queryable, at the "
            "last ingest pass that found new events (the largest over that pass's segments).",
            status.lag_s,
        )
        yield GaugeMetricFamily(
            "cartsim_ingest_pass_seconds",
            "Duration of the last ingest pass.",
            status.last_duration_ms / 1000,
        )
        if status.last_run_at is not None:
            yield GaugeMetricFamily(
                "cartsim_ingest_last_pass_timestamp_seconds",
                "When the last ingest pass finished (unix time).",
                status.last_run_at.timestamp(),
            )

    def _tables(self, snapshot: Snapshot) -> Iterator[Metric]:
        workers = snapshot.workers
        yield GaugeMetricFamily(
            "cartsim_workers_live", "Workers beating in the registry.", len(workers)
        )
        yield GaugeMetricFamily(
            "cartsim_workers_reachable",
            "Workers that answered the last read of their tables.",
            len(snapshot.reachable),
        )
        labels = ["log", "partition"]
        entries = [([p.log, str(p.partition)], p) for p in snapshot.partitions]
        yield _labelled(
            "cartsim_tables_events",
            "Events counted by the workers' totals, per (log, partition).",
            labels,
            ((key, p.events) for key, p in entries),
        )
        yield _labelled(
            "cartsim_tables_abandoned_carts",
            "Carts in the workers' abandoned table, per (log, partition).",
            labels,
            ((key, p.abandoned_carts) for key, p in entries),
        )
        yield _labelled(
            "cartsim_tables_offset",
            "Offset of the last event the partition's totals hold.",
            labels,
            ((key, p.offset) for key, p in entries),
        )

    def _job(self, job: Any) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "cartsim_generate_job_produced_events",
            "Events the current (or last) generation job has sent.",
            job.produced,
        )
        yield GaugeMetricFamily(
            "cartsim_generate_job_planned_events",
            "Events the current (or last) generation job was asked for.",
            job.total,
        )
        yield GaugeMetricFamily(
            "cartsim_generate_job_rate", "Events per second the job has sent so far.", job.rate
        )
        yield _labelled(
            "cartsim_generate_job_state",
            "1 for the state the current (or last) generation job is in.",
            ["state"],
            (([state], float(job.state == state)) for state in JOB_STATES),
        )


def instrument(app: FastAPI) -> CollectorRegistry:
    """Give `app` its registry, its request timer and its collector; /metrics serves them."""
    registry = CollectorRegistry()
    latency = Histogram(
        "cartsim_http_request_duration_seconds",
        "HTTP requests by method, route template and status: time until the body was sent.",
        ["method", "route", "status"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    registry.register(ApiCollector(app.state))
    app.add_middleware(RequestTimer, histogram=latency)
    app.state.metrics = registry
    return registry
