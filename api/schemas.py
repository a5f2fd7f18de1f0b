"""Response envelopes; the event record itself is the one model in `cartsim.events`."""

from __future__ import annotations

from pydantic import BaseModel, Field

from cartsim.events import CartEvent


class EventPage(BaseModel):
    """One page of events and what a client needs to fetch the next."""

    items: list[CartEvent]
    total: int = Field(description="Events matching the query, on all pages.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last page.")


class Health(BaseModel):
    status: str
    events_dir: str
    storage_ok: bool


class ApiInfo(BaseModel):
    name: str
    version: str
    event_types: list[str]
    sources: list[str]
    devices: list[str]
    docs: str
    redoc: str
    openapi: str
