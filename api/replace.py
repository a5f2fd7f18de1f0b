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
from typing import Any

import aiohttp

from cartsim.errors import CartsimError
from cartsim.kafka import high_watermarks
from cartsim.registry import live_workers
from cartsim.settings import Settings
from cartsim.storage import Layout

CLEAR_TIMEOUT_S = 60.0
ANNOUNCE_WITHIN_S = 10.0  # a worker beats every second once it has joined its group


async def announced_workers(layout: Layout) -> list[dict[str, Any]]:
    """The live workers; a worker that is starting gets a few seconds to announce itself."""
    deadline = time.monotonic() + ANNOUNCE_WITHIN_S
    while not (workers := await asyncio.to_thread(live_workers, layout)):
        if time.monotonic() > deadline:
            raise CartsimError("no stream worker is running to clear the stored events; start one")
        await asyncio.sleep(0.2)
    return workers


async def replace_hook(settings: Settings) -> None:
    """Clear the stored events and the workers' tables, so that only what follows remains."""
    assert settings.kafka_bootstrap is not None
    marks = await high_watermarks(settings.kafka_bootstrap, settings.topic, settings.partitions)
    workers = await announced_workers(Layout(settings.data_dir))
    cleared: set[int] = set()
    body = {"high_watermarks": {str(p): o for p, o in marks.items()}}
    timeout = aiohttp.ClientTimeout(total=CLEAR_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for worker in workers:
            try:
                async with session.post(f"{worker['url']}/cartsim/replace", json=body) as response:
                    response.raise_for_status()
                    answer = await response.json()
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = f"worker {worker['url']} could not clear its data: {exc!r}"
                raise CartsimError(reason) from exc
            cleared.update(int(p) for p in answer["floors"])
    missing = set(marks) - cleared
    if missing:
        raise CartsimError(
            f"partitions {sorted(missing)} were not cleared: no live worker owns them "
            "(a rebalance may be under way); try again"
        )
