"""The "replace" step of POST /cart/generate/events: clear what is stored before the job sends.

The workers own the files and the tables, so they clear them (`/cartsim/replace` on each live
worker): every event of their partitions up to the topic's high watermarks, read here before the
job produces anything, leaves the files and the tables, and no event below them is counted again.
The API's ingester deletes the rows of segment files that disappear, so the queries follow.
Events that a live producer sends while the workers clear may be cleared with the old ones.
"""

from __future__ import annotations

import asyncio
import time

from cartsim.api.workers import WorkerSource
from cartsim.errors import CartsimError
from cartsim.kafka import high_watermarks
from cartsim.settings import Settings
from cartsim.worker_views import Heartbeat, ReplaceRequest

ANNOUNCE_WITHIN_S = 10.0  # a worker beats every second once it has joined its group


async def announced_workers(workers: WorkerSource) -> list[Heartbeat]:
    """The live workers; a worker that is starting gets a few seconds to announce itself."""
    deadline = time.monotonic() + ANNOUNCE_WITHIN_S
    while not (live := await workers.live()):
        if time.monotonic() > deadline:
            raise CartsimError("no stream worker is running to clear the stored events; start one")
        await asyncio.sleep(0.2)
    return live


async def replace_hook(settings: Settings, workers: WorkerSource) -> None:
    """Clear the stored events and the workers' tables, so that only what follows remains."""
    assert settings.kafka_bootstrap is not None
    marks = await high_watermarks(settings.kafka_bootstrap, settings.topic, settings.partitions)
    request = ReplaceRequest(high_watermarks=marks)
    cleared: set[int] = set()
    for worker in await announced_workers(workers):
        cleared.update((await workers.replace(worker, request)).floors)
    missing = set(marks) - cleared
    if missing:
        raise CartsimError(
            f"partitions {sorted(missing)} were not cleared: no live worker owns them "
            "(a rebalance may be under way); try again"
        )
