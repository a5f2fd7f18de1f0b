"""The live dashboard: its page and assets at / and /dashboard, and the frames it draws.

A frame (`/dashboard/stream`, Server-Sent Events) holds the answers of /cart/statistics,
/cart/abandoned, /health, /cart/events and /cart/generate/status, made by calling those routes'
own functions with their default parameters, so the page shows exactly what the REST API
reports; the one figure added is events per second, the change of `total_events` between frames.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.resources import files
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, HTTPException, Response
from fastapi.responses import HTMLResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel

from cartsim.api.deps import FeedDep
from cartsim.api.routes import events, generate, health, statistics
from cartsim.api.routes.paging import Paging, TimeRange

router = APIRouter(tags=["dashboard"])

LATEST_EVENTS = 15
ABANDONED_CARTS = 10
RATE_POINTS = 300  # events-per-second samples a frame carries: five minutes at one per second

_TYPES = {
    "app.js": "text/javascript",
    "style.css": "text/css",
    "uPlot.iife.min.js": "text/javascript",
    "uPlot.min.css": "text/css",
    "uPlot.LICENSE": "text/plain",
}
_FOLDER = files("cartsim.api") / "dashboard"
#: The page and its assets are small (70 KB) and never change while the API runs: read once.
_ASSETS = {name: (_FOLDER / name).read_bytes() for name in _TYPES}
_PAGE = (_FOLDER / "index.html").read_bytes()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def page() -> HTMLResponse:
    """The live dashboard page."""
    return HTMLResponse(_PAGE)


@router.get("/dashboard/assets/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    """The page's scripts and styles, shipped in the package: nothing loads from the internet."""
    if name not in _ASSETS:
        raise HTTPException(404, f"no dashboard asset {name!r}")
    return Response(_ASSETS[name], media_type=_TYPES[name], headers={"Cache-Control": "no-cache"})


# Not in the OpenAPI document: a stream that never ends is no request/response operation (and
# schemathesis would wait on it forever); docs/observability.md documents it.
@router.get("/dashboard/stream", response_class=EventSourceResponse, include_in_schema=False)
async def stream(feed: FeedDep) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events named `frame`, one per `CARTSIM_DASHBOARD_INTERVAL_S`: a JSON object
    of `statistics`, `abandoned`, `health`, `events` and `generate` (each the body its REST
    endpoint answers now, or `{"error", "status"}`) and `rate`, events per second as
    [[unix seconds...], [events/s...]]."""
    async for frame in feed.frames():
        yield ServerSentEvent(raw_data=frame.decode(), event="frame", retry=2000)


Section = orjson.Fragment | dict[str, Any]  # a body as it goes over the wire, or its error


async def _answer(call: Awaitable[Response | BaseModel]) -> tuple[Section, bytes | None]:
    """A route's answer as a frame section, and its body when it answered 2xx."""
    try:
        answer = await call
    except HTTPException as exc:
        return {"error": exc.detail, "status": exc.status_code}, None
    body = answer.model_dump_json().encode() if isinstance(answer, BaseModel) else answer.body
    return orjson.Fragment(body), bytes(body)


class Frames:
    """Builds the frames of one app, and remembers the rate samples they carry."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.rate: deque[tuple[float, float]] = deque(maxlen=RATE_POINTS)
        self._last: tuple[float, int] | None = None

    async def build(self) -> bytes:
        state = self.app.state
        everything = TimeRange(None, None)
        stats, body = await _answer(
            statistics.get_statistics(state.tables, state.catalog, state.settings, everything)
        )
        if body is not None:
            self._sample(orjson.loads(body)["total_events"])
        frame: dict[str, Any] = {
            "at": int(time.time() * 1000),
            "statistics": stats,
            "rate": [[t for t, _ in self.rate], [r for _, r in self.rate]],
        }
        sections: dict[str, Callable[[], Awaitable[Response | BaseModel]]] = {
            "abandoned": lambda: statistics.get_abandoned(state.tables, limit=ABANDONED_CARTS),
            "health": lambda: health.health(
                state.settings, state.broker_probe, state.ingester, state.tables
            ),
            "events": lambda: events.list_events(
                state.queries, Paging(LATEST_EVENTS, 0), everything
            ),
        }
        for name, call in sections.items():
            frame[name] = (await _answer(call()))[0]
        frame["generate"] = None
        if state.generator.job is not None:
            frame["generate"] = (await _answer(generate.generation_status(state.generator)))[0]
        return orjson.dumps(frame)

    def _sample(self, total: int) -> None:
        """Events per second since the previous frame (0 after a replace emptied the tables)."""
        now = time.time()
        if self._last is not None and now > self._last[0]:
            moved = max(0, total - self._last[1])
            self.rate.append((round(now, 3), round(moved / (now - self._last[0]), 2)))
        self._last = (now, total)
