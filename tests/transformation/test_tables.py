"""metrics_daily and products_daily add up to what the real worker's tables and /cart/statistics
say of the same stored events.

The segments are written under an earlier Kafka log than the broker the worker then joins, so
the worker builds that log's tables from the files at start (its history rebuild, the aggregator
of the live path) and serves them; the API answers /cart/statistics from them as in production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from cartsim.analytics import TABLES
from tests.conftest import Services, wait_until
from tests.tables import served
from tests.transformation.conftest import (
    COUNT,
    duckdb_engine,
    table_rows,
    transform,
    write_segments,
)


def statistics(api_url: str) -> dict[str, Any] | None:
    try:
        body = httpx.get(f"{api_url}/cart/statistics", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return None
    return body if body.get("total_events") == COUNT else None


def sums(out: Path, table: str) -> dict[str, int]:
    columns = ("event_date", *TABLES[table].column_names)
    totals: dict[str, int] = {}
    for row in table_rows(out, table):
        for name, value in zip(columns, row, strict=True):
            if isinstance(value, int) and not isinstance(value, bool):
                totals[name] = totals.get(name, 0) + value
    return totals


def test_metrics_daily_equals_the_workers_totals_and_cart_statistics(
    services: Services, tmp_path: Path
) -> None:
    write_segments(services.data_dir)
    services.start("worker")
    services.start("api")
    stats = wait_until(lambda: statistics(services.api_url), 300, "the worker's tables served")
    out = tmp_path / "tables"
    transform(duckdb_engine(tmp_path / "work"), out, services.data_dir)
    daily = sums(out, "metrics_daily")

    assert daily["events"] == stats["total_events"] == COUNT
    assert {k: daily[f"events_{k}"] for k in stats["event_types"]} == stats["event_types"]
    assert {k: daily[f"source_{k}"] for k in stats["sources"]} == stats["sources"]
    assert {k: daily[f"device_{k}"] for k in stats["devices"]} == stats["devices"]
    funnel = stats["funnel"]
    assert (
        daily["sessions"],
        daily["sessions_viewed"],
        daily["sessions_added"],
        daily["sessions_checkout"],
        daily["sessions_purchased"],
    ) == (
        funnel["sessions"],
        funnel["viewed"],
        funnel["added_to_cart"],
        funnel["began_checkout"],
        funnel["purchased"],
    )
    revenue = stats["revenue"]
    assert (daily["orders"], daily["revenue_vnd"]) == (revenue["orders"], revenue["revenue_vnd"])
    assert (daily["cancelled_orders"], daily["cancelled_vnd"]) == (
        revenue["cancelled_orders"],
        revenue["cancelled_vnd"],
    )
    assert daily["abandoned_sessions"] == stats["abandonment"]["abandoned_sessions"] > 0
    rate = (daily["sessions_added"] - daily["sessions_purchased"]) / daily["sessions_added"]
    assert round(rate, 4) == stats["abandonment"]["abandonment_rate"]

    worker = served(services.data_dir)
    products: dict[int, list[int]] = {}
    columns = ("event_date", *TABLES["products_daily"].column_names)
    for row in table_rows(out, "products_daily"):
        named = dict(zip(columns, row, strict=True))
        stats_of = products.setdefault(named["product_id"], [0] * 5)
        for index, name in enumerate(
            ("views", "adds", "removes", "units_purchased", "revenue_vnd")
        ):
            stats_of[index] += named[name]
    assert products == worker["products"]
    session_columns = ("event_date", *TABLES["sessions"].column_names)
    abandoned = {
        named["session_id"]: named["cart_value_vnd"]
        for named in (
            dict(zip(session_columns, r, strict=True)) for r in table_rows(out, "sessions")
        )
        if named["abandoned"]
    }
    assert abandoned == worker["abandoned"]
