"""GET /cart/events: stored events, newest first, a page at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import StoreDep
from api.schemas import EventPage

router = APIRouter(prefix="/cart", tags=["events"])


@router.get("/events", response_model=EventPage)
async def list_events(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Events per page.")] = 100,
    offset: Annotated[int, Query(ge=0, description="Events to skip.")] = 0,
) -> EventPage:
    events = await store.newest_first()
    page = events[offset : offset + limit]
    following = offset + len(page)
    return EventPage(
        items=page,  # type: ignore[arg-type]
        total=len(events),
        limit=limit,
        offset=offset,
        next_offset=following if following < len(events) else None,
    )
