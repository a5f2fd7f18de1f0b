"""GET /metrics: the API's Prometheus metrics (api/metrics.py), in the text exposition format."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["info"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Rendered on the event loop: the collector reads state the loop owns, in well under a
    millisecond, so a thread would buy nothing but a race."""
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
