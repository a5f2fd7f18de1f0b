"""GET /cart/statistics and GET /cart/abandoned, from the workers' tables."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, cast

from fastapi import APIRouter, HTTPException, Query, Response

from cartsim.api.deps import CatalogDep, SettingsDep, TablesDep
from cartsim.api.routes.paging import TimeRangeDep
from cartsim.api.schemas import JSONBytes, Problem, Responses
from cartsim.api.statistics import (
    AbandonedPage,
    Statistics,
    abandoned_page,
    statistics,
    window_counts,
)
from cartsim.api.tables import Snapshot
from cartsim.producer.catalog import Product
from cartsim.settings import Settings
from cartsim.worker_views import WindowQuery

router = APIRouter(prefix="/cart", tags=["statistics"])

#: `top` when a request does not say: the refresh computes its statistics before publishing.
DEFAULT_TOP = 10

_UNAVAILABLE: Responses = {
    503: {"model": Problem, "description": "No worker is running or answering."}
}


def _require_workers(snapshot: Snapshot) -> None:
    if not snapshot.reachable:
        raise HTTPException(
            503, "no stream worker is running: start `cartsim worker` (or run `cartsim up`)"
        )


@router.get("/statistics", response_model=Statistics, responses=_UNAVAILABLE)
async def get_statistics(
    tables: TablesDep,
    catalog: CatalogDep,
    settings: SettingsDep,
    dates: TimeRangeDep,
    top: Annotated[int, Query(ge=1, le=50, description="Products in each ranking.")] = DEFAULT_TOP,
) -> Response:
    """Running counts, funnel, abandonment, revenue and top products, from the Faust tables.

    With `start_date` or `end_date`, `window` adds events by type in that range, from the
    one-minute windows (kept for `CARTSIM_WINDOW_RETENTION_S`, 24 hours by default).
    """
    snapshot = tables.snapshot
    _require_workers(snapshot)
    everything = dates.start_ms is None and dates.end_ms is None
    if everything and ("statistics", top) in snapshot.computed:
        return JSONBytes(_running(snapshot, catalog, settings, top)[1])

    async def windowed(of: Snapshot) -> bytes:
        # made in a thread unless the snapshot has them: they take milliseconds of Python
        result, body = await asyncio.to_thread(_running, of, catalog, settings, top)
        if everything:
            return body
        retention_ms = int(settings.window_retention_s * 1000)
        end = dates.end_ms if dates.end_ms is not None else of.clock_ms
        start = dates.start_ms if dates.start_ms is not None else of.clock_ms - retention_ms
        counts = await tables.window(WindowQuery.ending(start, end + 1), of) if end >= start else {}
        window = window_counts(counts, dates.start_ms, dates.end_ms, settings.window_retention_s)
        return result.model_copy(update={"window": window}).model_dump_json().encode()

    key = ("statistics", top, dates.start_ms, dates.end_ms)
    return JSONBytes(await tables.shared(snapshot, key, windowed))


def prepare(catalog: dict[int, Product], settings: Settings) -> Callable[[Snapshot], None]:
    """What `TablesClient` computes in its thread for each snapshot before it is published."""

    def compute(snapshot: Snapshot) -> None:
        _running(snapshot, catalog, settings, DEFAULT_TOP)

    return compute


def _running(
    snapshot: Snapshot, catalog: dict[int, Product], settings: Settings, top: int
) -> tuple[Statistics, bytes]:
    """The statistics of the running totals, and their JSON: once per snapshot and `top`."""
    key = ("statistics", top)
    if key not in snapshot.computed:
        result = statistics(
            snapshot.partitions,
            catalog,
            settings.abandon_after_s,
            top,
            snapshot.taken_ms,
            len(snapshot.reachable),
        )
        snapshot.computed[key] = (result, result.model_dump_json().encode())
    return cast("tuple[Statistics, bytes]", snapshot.computed[key])


@router.get("/abandoned", response_model=AbandonedPage, responses=_UNAVAILABLE)
async def get_abandoned(
    tables: TablesDep,
    limit: Annotated[int, Query(ge=1, le=200, description="Carts to return.")] = 50,
    hours_threshold: Annotated[
        int, Query(ge=1, le=168, description="At least this many hours idle (event time).")
    ] = 1,
) -> Response:
    """Abandoned carts idle at least `hours_threshold` hours, most valuable first.

    Idle time is measured in event time, against the newest event the tables have seen, so a
    backfilled history answers as it would have at its end.
    """
    snapshot = tables.snapshot
    _require_workers(snapshot)

    async def page(of: Snapshot) -> bytes:
        items = await tables.abandoned_carts(of, hours_threshold, limit)
        total = sum(partition.abandoned_carts for partition in of.partitions)
        return abandoned_page(items, total, hours_threshold, limit, of.clock_ms)

    key = ("abandoned page", hours_threshold, limit)
    return JSONBytes(await tables.shared(snapshot, key, page))
