"""GET /cart/: what this API is and what it serves."""

from __future__ import annotations

from fastapi import APIRouter, Request

from cartsim import __version__
from cartsim.api.schemas import ApiInfo
from cartsim.events import DEVICES, EVENT_TYPES, SOURCES

router = APIRouter(tags=["info"])


@router.get("/cart/", response_model=ApiInfo)
async def api_info(request: Request) -> ApiInfo:
    endpoints = sorted(request.app.openapi()["paths"])  # built once, then cached by FastAPI
    return ApiInfo(
        name="TechStore Vietnam cart tracking (cartsim)",
        version=__version__,
        event_types=list(EVENT_TYPES),
        sources=list(SOURCES),
        devices=list(DEVICES),
        endpoints=endpoints,
        docs="/docs",
        redoc="/redoc",
        openapi="/openapi.json",
    )
