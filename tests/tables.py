"""Comparing what the workers' tables serve with a recount of the sink's files."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cartsim.api.tables import TablesClient
from cartsim.api.workers import HttpWorkers
from cartsim.storage import Layout
from cartsim.worker_views import (
    MINUTE_MS,
    AbandonedQuery,
    ProductColumns,
    WindowQuery,
)
from tests.recount import Recount, recount
from tests.stored import stored_by_partition


def file_partitions(data_dir: Path) -> list[list[dict[str, Any]]]:
    """Each (log, partition)'s stored events in offset order."""
    grouped = stored_by_partition(data_dir)
    return [grouped[key] for key in sorted(grouped)]


async def _served(data_dir: Path, minutes: Iterable[int]) -> dict[str, Any]:
    """The merged totals and abandoned carts, and the window of each of `minutes`."""
    workers = HttpWorkers(Layout(data_dir))
    client = TablesClient(workers)
    try:
        snapshot = await client.refresh()
        abandoned = await client.abandoned(AbandonedQuery(limit=1000, idle_before_ms=2**62))
        windows = await asyncio.gather(
            *(
                client.window(WindowQuery(start_ms=m * MINUTE_MS, end_ms=(m + 1) * MINUTE_MS))
                for m in minutes
            )
        )
    finally:
        await workers.close()
    out: dict[str, Any] = defaultdict(Counter)
    out.update(dict.fromkeys(("revenue_vnd", "orders", "events", "abandoned_count"), 0))
    for entry in snapshot.partitions:
        out["event_type"].update(entry.event_types)
        out["source"].update(entry.sources)
        out["device"].update(entry.devices)
        out["browser"].update(entry.browsers)
        out["funnel"].update(entry.funnel.model_dump())
        out["revenue_vnd"] += entry.revenue_vnd
        out["orders"] += entry.orders
        out["events"] += entry.events
        out["abandoned_count"] += entry.abandoned_carts
    products = ProductColumns.total(entry.products for entry in snapshot.partitions)
    out["products"] = {
        product: list(products.counters(row).values())
        for row, product in enumerate(products.product_id)
    }
    out["by_partition"] = {
        (entry.log, entry.partition): (entry.events, entry.offset) for entry in snapshot.partitions
    }
    for minute, counts in zip(minutes, windows, strict=True):
        for kind, count in counts.items():
            out["minutes"][(minute, kind)] += count
    out["abandoned"] = {item["session_id"]: item["cart_value_vnd"] for item in abandoned}
    out["workers"] = [seen.heartbeat for seen in snapshot.workers]
    return out


def served(data_dir: Path, minutes: Iterable[int] = ()) -> dict[str, Any]:
    return asyncio.run(_served(data_dir, list(minutes)))


def mismatches(data_dir: Path, abandon_after_ms: int) -> list[str]:
    """Where the served tables differ from a recount of the files; empty when they agree."""
    grouped = stored_by_partition(data_dir)
    expected: Recount = recount([grouped[key] for key in sorted(grouped)], abandon_after_ms)
    got = served(data_dir, sorted({minute for minute, _ in expected.minutes}))
    wrong = [
        name
        for name in ("event_type", "source", "device", "browser", "funnel", "minutes")
        if {k: v for k, v in got[name].items() if v} != dict(getattr(expected, name))
    ]
    stored = {key: len(events) for key, events in grouped.items()}
    if {p: events for p, (events, _) in got["by_partition"].items()} != stored:
        wrong.append(
            f"events by partition: served (events, last offset) {dict(got['by_partition'])},"
            f" files {stored}"
        )
    if dict(got["products"]) != {k: v for k, v in expected.products.items() if k is not None}:
        wrong.append("products")
    if (got["revenue_vnd"], got["orders"]) != (expected.revenue_vnd, expected.orders):
        wrong.append("revenue")
    if got["abandoned_count"] != len(expected.abandoned):
        wrong.append(f"abandoned count {got['abandoned_count']} != {len(expected.abandoned)}")
    top = sorted(expected.abandoned.items(), key=lambda kv: (-kv[1], kv[0]))[:1000]
    if got["abandoned"] != dict(top):
        wrong.append("abandoned carts")
    return wrong


def stored_count(data_dir: Path) -> int:
    return sum(len(events) for events in file_partitions(data_dir))
