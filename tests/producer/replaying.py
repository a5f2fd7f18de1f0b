"""What the replay tests share: a recorded stream, a store holding it, and a collecting target."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from cartsim.producer.catalog import Product
from cartsim.producer.journeys import steady
from cartsim.producer.replay import Replay
from cartsim.producer.selection import Selection
from cartsim.producer.sources import Source, StoreSource
from cartsim.replay_checkpoint import ReplayCheckpoint, ReplayPlan
from cartsim.storage import Layout
from tests.filled import fill_store

RECORDED_AT_MS = 1_731_330_000_000  # 2024-11-11T20:00+07:00


def recorded(products: tuple[Product, ...], count: int, rate: float = 200.0) -> list[Any]:
    """`count` events of a live stream at `rate` events/s, as (key, value) records."""
    return list(islice(steady(7, rate, products, now_ms=RECORDED_AT_MS), count))


def store(tmp_path: Path, records: list[tuple[bytes, bytes]]) -> StoreSource:
    fill_store(tmp_path, records)
    return StoreSource(Layout(tmp_path))


class Collect:
    """A target that keeps what it is sent; `sent` acknowledges everything at once."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes]] = []
        self.sent = 0

    async def send(self, records: Iterable[tuple[bytes, bytes]]) -> int:
        batch = list(records)
        self.records.extend(batch)
        self.sent += len(batch)
        return len(batch)

    def events(self) -> list[dict[str, Any]]:
        return [orjson.loads(value) for _, value in self.records]


def replay(
    source: Source,
    target: Any,
    selection: Selection | None = None,
    checkpoint: ReplayCheckpoint | None = None,
    path: Path | None = None,
    **options: Any,
) -> Replay:
    loops = options.pop("loops", 1)
    job = Replay(
        source,
        selection or Selection(),
        checkpoint or ReplayCheckpoint(plan=ReplayPlan(source="s", target="t", loops=loops)),
        path,
        **options,
    )
    asyncio.run(job.run(target))
    return job
