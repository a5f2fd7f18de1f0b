"""Reachability of what the API depends on, for GET /health.

The broker is asked for its cluster description with a short timeout; the answer is cached for a
few seconds, so a client polling /health cannot turn into a stream of admin connections.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from cartsim.api.ingest import IngestStatus
from cartsim.api.schemas import Component, Ingest, Storage
from cartsim.api.tables import Snapshot
from cartsim.settings import BOOTSTRAP_NOT_SET
from cartsim.storage import Layout

BROKER_TIMEOUT_S = 2.0
BROKER_CACHE_S = 5.0


class BrokerProbe:
    """`describe_cluster` against the configured bootstrap servers, cached for a few seconds."""

    def __init__(self, bootstrap: str | None) -> None:
        self.bootstrap = bootstrap
        self._cached: tuple[float, Component] | None = None
        self._lock = asyncio.Lock()

    async def check(self) -> Component:
        if not self.bootstrap:
            return Component(status="not_configured", detail=BOOTSTRAP_NOT_SET)
        async with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > BROKER_CACHE_S:
                self._cached = (now, await self._describe(self.bootstrap))
            return self._cached[1]

    async def _describe(self, bootstrap: str) -> Component:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=int(BROKER_TIMEOUT_S * 1000)
        )
        try:
            async with asyncio.timeout(BROKER_TIMEOUT_S):
                await admin.start()
                cluster = await admin.describe_cluster()
        except (KafkaError, TimeoutError, OSError) as exc:
            return Component(status="down", detail=f"{bootstrap}: {type(exc).__name__} {exc}")
        finally:
            await admin.close()
        brokers = len(cluster.get("brokers", []))
        detail = f"{bootstrap}: cluster {cluster.get('cluster_id')}, {brokers} broker(s)"
        return Component(status="ok", detail=detail)


def storage_health(layout: Layout, ingest: IngestStatus) -> Storage:
    """Events folder readable, and the ingester ran recently without an error."""
    events_dir = layout.events_dir
    readable = events_dir.is_dir() and os.access(events_dir, os.R_OK | os.X_OK)
    since = None
    if ingest.last_run_at is not None:
        since = (datetime.now(UTC) - ingest.last_run_at).total_seconds()
    ok = readable and ingest.error is None and ingest.last_run_at is not None
    if not readable:
        detail = "events folder missing or unreadable"
    elif ingest.error is not None:
        detail = f"ingester failing: {ingest.error}"
    elif ingest.last_run_at is None:
        detail = "ingester has not finished its first pass"
    else:
        detail = f"{ingest.rows} events queryable from {ingest.segments} segments"
    return Storage(
        status="ok" if ok else "down",
        detail=detail,
        events_dir=str(events_dir),
        ingest=Ingest(
            last_run_at=ingest.last_run_at,
            seconds_since_last_run=since,
            last_duration_ms=ingest.last_duration_ms,
            pending_bytes=ingest.pending_bytes,
            segments=ingest.segments,
            rows=ingest.rows,
            error=ingest.error,
            lag_seconds=ingest.lag_s,
        ),
    )


def worker_health(snapshot: Snapshot) -> Component:
    """Workers that beat in the registry and answered the last read of their tables."""
    reachable = snapshot.reachable
    if not snapshot.workers:
        return Component(status="down", detail="no worker is running (cartsim worker)")
    if not reachable:
        unreached = ", ".join(seen.heartbeat.url for seen in snapshot.workers)
        return Component(
            status="down", detail=f"no worker answered at its web address: {unreached}"
        )
    partitions = sorted(p for w in reachable for p in w.partitions)
    return Component(
        status="ok",
        detail=f"{len(reachable)} worker(s) own partitions {partitions}: "
        + ", ".join(w.url for w in reachable),
    )
