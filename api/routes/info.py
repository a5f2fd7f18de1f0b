"""GET /cart/ and GET /health: what this API is, and whether it can do its job."""

from __future__ import annotations

import os

from fastapi import APIRouter

from api.deps import SettingsDep
from api.schemas import ApiInfo, Health
from cartsim import __version__
from cartsim.events import DEVICES, EVENT_TYPES, SOURCES
from cartsim.storage import Layout

router = APIRouter(tags=["info"])


@router.get("/cart/", response_model=ApiInfo)
async def api_info() -> ApiInfo:
    return ApiInfo(
        name="TechStore Vietnam cart tracking (cartsim)",
        version=__version__,
        event_types=list(EVENT_TYPES),
        sources=list(SOURCES),
        devices=list(DEVICES),
        docs="/docs",
        redoc="/redoc",
        openapi="/openapi.json",
    )


@router.get("/health", response_model=Health)
async def health(settings: SettingsDep) -> Health:
    events_dir = Layout(settings.data_dir).events_dir
    ok = events_dir.is_dir() and os.access(events_dir, os.R_OK)
    return Health(status="ok" if ok else "degraded", events_dir=str(events_dir), storage_ok=ok)
