"""Comparing what the workers' tables serve with a recount of the sink's files."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from cartsim.api.tables import TablesClient
from cartsim.storage import Layout
from tests.recount import Recount, recount
from tests.stored import stored_by_partition


def file_partitions(data_dir: Path) -> list[list[dict[str, Any]]]:
    """Each (log, partition)'s stored events in offset order."""
    grouped = stored_by_partition(data_dir)
    return [grouped[key] for key in sorted(grouped)]


async def _served(data_dir: Path) -> dict[str, Any]:
    client = TablesClient(Layout(data_dir))
    try:
        snapshot = await client.refresh()
        abandoned = await client.abandoned(1000, idle_before_ms=2**62)
        clock = snapshot.clock_ms
        minutes = await client.minutes(clock - 31 * 86_400_000, clock + 60_000)
    finally:
        await client.close()
    out: dict[str, Any] = defaultdict(Counter)
    out.update(dict.fromkeys(("revenue_vnd", "orders", "events", "abandoned_count"), 0))
    out["products"] = {}
    for entry in snapshot.partitions:
        totals = entry["totals"]
        for name in ("event_type", "source", "device", "browser", "funnel"):
            out[name].update(totals[name])
        for product, stats in totals["products"].items():
            out["products"][int(product)] = [
                a + b
                for a, b in zip(out["products"].get(int(product), [0] * 5), stats, strict=True)
            ]
        out["revenue_vnd"] += totals["revenue_vnd"]
        out["orders"] += totals["orders"]
        out["events"] += totals["events"]
        out["abandoned_count"] += entry["abandoned"]
    for row in minutes:
        for kind, count in row["counts"].items():
            out["minutes"][(row["minute"], kind)] += count
    out["abandoned"] = {item["session_id"]: item["cart_value_vnd"] for item in abandoned}
    out["workers"] = snapshot.workers
    return out


def served(data_dir: Path) -> dict[str, Any]:
    return asyncio.run(_served(data_dir))


def mismatches(data_dir: Path, abandon_after_ms: int) -> list[str]:
    """Where the served tables differ from a recount of the files; empty when they agree."""
    expected: Recount = recount(file_partitions(data_dir), abandon_after_ms)
    got = served(data_dir)
    wrong = [
        name
        for name in ("event_type", "source", "device", "browser", "funnel", "minutes")
        if dict(got[name]) != dict(getattr(expected, name))
    ]
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
