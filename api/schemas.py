"""Response envelopes; the event record itself is the one model in `cartsim.events`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import Response
from pydantic import BaseModel, Field

from cartsim.events import CartEvent


class JSONBytes(Response):
    """A body already encoded from these models: FastAPI would validate and encode it again."""

    media_type = "application/json"


class EventPage(BaseModel):
    """One page of events and what a client needs to fetch the next."""

    items: list[CartEvent]
    total: int = Field(description="Events matching the query, on all pages.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last page.")


class ApiInfo(BaseModel):
    name: str
    version: str
    event_types: list[str]
    sources: list[str]
    devices: list[str]
    endpoints: list[str] = Field(description="Paths this API serves.")
    docs: str
    redoc: str
    openapi: str


class Problem(BaseModel):
    """The body of every 4xx/5xx answer that is not a validation error."""

    detail: str


# FastAPI's `responses=` argument: extra documented answers by status code.
Responses = dict[int | str, dict[str, Any]]


class Component(BaseModel):
    """One dependency of the API and whether it answers."""

    status: Literal["ok", "down", "not_configured", "unknown"]
    detail: str


class Ingest(BaseModel):
    """The DuckDB ingester: how fresh the queryable events are."""

    last_run_at: datetime | None = Field(description="When the last ingest pass finished.")
    seconds_since_last_run: float | None
    last_duration_ms: float
    pending_bytes: int = Field(description="Segment bytes not yet ingested (a torn tail).")
    segments: int
    rows: int
    error: str | None
    lag_seconds: float | None = Field(
        default=None,
        description="Seconds from the sink's write to a segment until its events were "
        "queryable, at the last pass that found new events.",
    )


class Storage(Component):
    events_dir: str
    ingest: Ingest


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="ok when every component is ok.")
    broker: Component
    worker: Component = Field(description="The Faust worker (filled in by stream processing).")
    storage: Storage


JobState = Literal["running", "succeeded", "failed", "cancelled"]


class GenerationStatus(BaseModel):
    """Progress of the one generation job (the running one, or the last one)."""

    job_id: str
    state: JobState
    method: Literal["new", "replace"]
    seed: int
    produced: int
    total: int
    rate: float = Field(description="Events sent per second so far.")
    eta_seconds: float | None = Field(description="Seconds left at the current rate.")
    started_at: datetime
    finished_at: datetime | None
    errors: list[str]
