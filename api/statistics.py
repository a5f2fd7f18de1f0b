"""Statistics and abandoned carts, computed from the merged tables of the workers."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from cartsim.moments import VIETNAM
from cartsim.worker_views import (
    HOUR_MS,
    AbandonedEntry,
    CartLine,
    FunnelCounts,
    PartitionTotals,
    ProductColumns,
)

#: Each ranking of top products, by the counter it ranks.
_Ranked = Literal["views", "adds", "units_purchased", "revenue_vnd"]
_RANKINGS: dict[str, _Ranked] = {
    "by_views": "views",
    "by_adds": "adds",
    "by_purchases": "units_purchased",
    "by_revenue": "revenue_vnd",
}


class ProductStats(BaseModel):
    product_id: int
    product_name: str | None
    category: str | None
    views: int
    adds: int
    removes: int
    units_purchased: int
    revenue_vnd: int


class TopProducts(BaseModel):
    by_views: list[ProductStats]
    by_adds: list[ProductStats]
    by_purchases: list[ProductStats]
    by_revenue: list[ProductStats]


class Funnel(BaseModel):
    """Sessions reaching each stage at least once, and the rates between stages."""

    sessions: int
    viewed: int
    added_to_cart: int
    began_checkout: int
    purchased: int
    view_to_cart_rate: float | None
    cart_to_checkout_rate: float | None
    checkout_to_purchase_rate: float | None
    conversion_rate: float | None = Field(description="purchased / sessions")


class Abandonment(BaseModel):
    cart_sessions: int = Field(description="Sessions that added to cart.")
    abandoned_sessions: int = Field(description="Carts in the abandoned table now.")
    abandonment_rate: float | None = Field(description="Cart sessions that did not purchase.")
    threshold_minutes: float


class Revenue(BaseModel):
    revenue_vnd: int = Field(description="Sum of purchase totals, cancellations not deducted.")
    orders: int
    average_order_vnd: int | None
    cancelled_orders: int
    cancelled_vnd: int


class Freshness(BaseModel):
    """How current these figures are."""

    as_of: datetime = Field(description="When the workers were last read (wall clock).")
    event_time: datetime | None = Field(description="Newest event time the tables have seen.")
    workers: int
    partitions: int


class FaultCounts(BaseModel):
    """Records of the events topic the tables did not take, by why."""

    dead_letters: int = Field(description="Not cart events: sent to the dead-letter topic.")
    duplicates: int = Field(description="Repeated event ids, applied once.")
    too_late: int = Field(description="Events older than the allowed lateness: not counted.")


class WindowCounts(BaseModel):
    """Events by type in [start_date, end_date], from the one-minute windows."""

    start: datetime | None
    end: datetime | None
    total_events: int
    event_types: dict[str, int]
    retention_hours: float = Field(description="Windows older than this are not kept.")


class Statistics(BaseModel):
    total_events: int
    event_types: dict[str, int]
    sources: dict[str, int]
    devices: dict[str, int]
    browsers: dict[str, int]
    add_remove_ratio: float | None = Field(description="add_to_cart / remove_from_cart events.")
    funnel: Funnel
    abandonment: Abandonment
    revenue: Revenue
    top_products: TopProducts
    faults: FaultCounts
    window: WindowCounts | None = None
    freshness: Freshness


class AbandonedCart(BaseModel):
    session_id: str
    customer_id: int | None
    is_guest: bool
    city: str | None
    cart: list[CartLine]
    cart_value_vnd: int
    checkout_stage: str
    last_activity: str
    last_activity_unix: int
    idle_hours: float = Field(description="Event time since the last activity.")


class AbandonedPage(BaseModel):
    items: list[AbandonedCart]
    total_abandoned: int = Field(description="Abandoned carts in the table, any idle time.")
    hours_threshold: int
    limit: int
    event_time: datetime | None


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _at(ms: int) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, VIETNAM) if ms else None


def statistics(
    partitions: list[PartitionTotals],
    catalog: Mapping[int, Any],
    abandon_after_s: float,
    top: int,
    taken_ms: int,
    workers: int,
) -> Statistics:
    kinds, sources, devices, browsers = (
        Counter[str](),
        Counter[str](),
        Counter[str](),
        Counter[str](),
    )
    for entry in partitions:
        kinds.update(entry.event_types)
        sources.update(entry.sources)
        devices.update(entry.devices)
        browsers.update(entry.browsers)
    products = ProductColumns.total(entry.products for entry in partitions)
    funnel = FunnelCounts.total(entry.funnel for entry in partitions)
    revenue, orders = sum(p.revenue_vnd for p in partitions), sum(p.orders for p in partitions)
    return Statistics(
        total_events=sum(kinds.values()),
        event_types=dict(kinds.most_common()),
        sources=dict(sources.most_common()),
        devices=dict(devices.most_common()),
        browsers=dict(browsers.most_common()),
        add_remove_ratio=_ratio(kinds["add_to_cart"], kinds["remove_from_cart"]),
        funnel=Funnel(
            sessions=funnel.session,
            viewed=funnel.viewed,
            added_to_cart=funnel.added,
            began_checkout=funnel.checkout,
            purchased=funnel.purchased,
            view_to_cart_rate=_ratio(funnel.added, funnel.viewed),
            cart_to_checkout_rate=_ratio(funnel.checkout, funnel.added),
            checkout_to_purchase_rate=_ratio(funnel.purchased, funnel.checkout),
            conversion_rate=_ratio(funnel.purchased, funnel.session),
        ),
        abandonment=Abandonment(
            cart_sessions=funnel.added,
            abandoned_sessions=sum(p.abandoned_carts for p in partitions),
            abandonment_rate=_ratio(funnel.added - funnel.purchased, funnel.added),
            threshold_minutes=abandon_after_s / 60,
        ),
        revenue=Revenue(
            revenue_vnd=revenue,
            orders=orders,
            average_order_vnd=revenue // orders if orders else None,
            cancelled_orders=sum(p.cancelled_orders for p in partitions),
            cancelled_vnd=sum(p.cancelled_vnd for p in partitions),
        ),
        top_products=TopProducts(**_top_products(products, catalog, top)),
        faults=FaultCounts(
            dead_letters=sum(p.dead_letters for p in partitions),
            duplicates=sum(p.duplicates for p in partitions),
            too_late=sum(p.too_late for p in partitions),
        ),
        freshness=Freshness(
            as_of=datetime.fromtimestamp(taken_ms / 1000, VIETNAM),
            event_time=_at(max((p.clock_ms for p in partitions), default=0)),
            workers=workers,
            partitions=len(partitions),
        ),
    )


def _top_products(
    products: ProductColumns, catalog: Mapping[int, Any], top: int
) -> dict[str, list[ProductStats]]:
    def stats(row: int) -> ProductStats:
        product_id = products.product_id[row]
        known = catalog.get(product_id)
        return ProductStats(
            product_id=product_id,
            product_name=getattr(known, "name", None),
            category=getattr(known, "category", None),
            **products.counters(row),
        )

    def ranked(counter: _Ranked) -> list[int]:
        """Rows of the `top` products by the counter, the lower id first among equals (rows are
        in id order, and `nlargest` keeps it among equals)."""
        column: list[int] = getattr(products, counter)
        rows = heapq.nlargest(top, range(len(column)), key=column.__getitem__)
        return [row for row in rows if column[row]]

    return {name: [stats(row) for row in ranked(counter)] for name, counter in _RANKINGS.items()}


def window_counts(
    counts: dict[str, int], start_ms: int | None, end_ms: int | None, retention_s: float
) -> WindowCounts:
    kinds = Counter(counts)
    return WindowCounts(
        start=_at(start_ms or 0),
        end=_at(end_ms or 0),
        total_events=sum(kinds.values()),
        event_types=dict(kinds.most_common()),
        retention_hours=retention_s / 3600,
    )


def abandoned_page(
    items: list[AbandonedEntry], total: int, hours: int, limit: int, clock_ms: int
) -> bytes:
    """The page's JSON as `AbandonedPage` writes it (the tests hold the two equal), by orjson
    from carts already validated: pydantic validating a page of 200 carts again took
    milliseconds on the event loop."""
    carts = [
        {
            **{name: value for name, value in item.items() if name in _CART_FIELDS},
            "idle_hours": round((clock_ms - item["last_activity_unix"]) / HOUR_MS, 3),
        }
        for item in items
    ]
    page = {
        "items": carts,
        "total_abandoned": total,
        "hours_threshold": hours,
        "limit": limit,
        "event_time": _at(clock_ms),
    }
    return orjson.dumps(page)


_CART_FIELDS = AbandonedCart.model_fields.keys() & AbandonedEntry.__annotations__
