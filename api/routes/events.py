"""GET /cart/events and the customer, product and session lookups, a page at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response

from cartsim.api.deps import QueriesDep
from cartsim.api.queries import EventQuery
from cartsim.api.routes.paging import PagingDep, TimeRangeDep
from cartsim.api.schemas import EventPage, JSONBytes, Problem, Responses
from cartsim.events import Device, EventType, Source

router = APIRouter(prefix="/cart/events", tags=["events"])

#: A customer or product id: a non-negative DuckDB BIGINT.
NumericId = Annotated[int, Path(ge=0, le=2**63 - 1)]
_NOT_FOUND: Responses = {404: {"model": Problem, "description": "No stored event has this id."}}


@router.get("", response_model=EventPage)
async def list_events(
    queries: QueriesDep,
    paging: PagingDep,
    dates: TimeRangeDep,
    event_type: EventType | None = None,
    source: Source | None = None,
    device: Device | None = None,
) -> Response:
    """Stored events, newest first, optionally filtered."""
    filters: dict[str, object] = {
        "event_type": event_type,
        "source": source,
        "device": device,
        "start_ms": dates.start_ms,
        "end_ms": dates.end_ms,
    }
    body, _ = await queries.page_json(EventQuery(paging.limit, paging.offset, filters))
    return JSONBytes(body)


async def _lookup(
    queries: QueriesDep, paging: PagingDep, key: str, value: object, oldest_first: bool = False
) -> Response:
    query = EventQuery(paging.limit, paging.offset, {key: value}, oldest_first)
    body, total = await queries.page_json(query)
    if total == 0:
        raise HTTPException(404, f"no events for {key.removesuffix('_id')} {value}")
    return JSONBytes(body)


@router.get("/customer/{customer_id}", response_model=EventPage, responses=_NOT_FOUND)
async def customer_events(
    queries: QueriesDep,
    paging: PagingDep,
    customer_id: NumericId,
) -> Response:
    """A registered customer's events, newest first."""
    return await _lookup(queries, paging, "customer_id", customer_id)


@router.get("/product/{product_id}", response_model=EventPage, responses=_NOT_FOUND)
async def product_events(
    queries: QueriesDep,
    paging: PagingDep,
    product_id: NumericId,
) -> Response:
    """Events about one product, newest first."""
    return await _lookup(queries, paging, "product_id", product_id)


@router.get("/session/{session_id}", response_model=EventPage, responses=_NOT_FOUND)
async def session_events(
    queries: QueriesDep,
    paging: PagingDep,
    session_id: Annotated[str, Path(min_length=1, max_length=100, description="Session id.")],
) -> Response:
    """One shopping session's events in the order they happened (oldest first)."""
    return await _lookup(queries, paging, "session_id", session_id, oldest_first=True)
