"""The FastAPI application: settings in, state opened in the lifespan, routers mounted."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections import defaultdict
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import HTTPExceptionHandler

from cartsim import __version__
from cartsim.api.database import Database
from cartsim.api.feed import Feed
from cartsim.api.health import BrokerProbe
from cartsim.api.ingest import Ingester
from cartsim.api.jobs import Generator
from cartsim.api.metrics import instrument
from cartsim.api.queries import EventQueries
from cartsim.api.routes import dashboard, events, generate, health, info, metrics, statistics
from cartsim.api.tables import TablesClient
from cartsim.api.workers import HttpWorkers, WorkerSource
from cartsim.errors import CartsimError
from cartsim.producer.catalog import aload_catalog
from cartsim.settings import Settings, get_settings
from cartsim.storage import Layout

log = logging.getLogger(__name__)

#: How long a thread holding the GIL keeps it before one that waits takes it (CPython's default:
#: 5 ms). The ingest, DuckDB's result conversion and the decoding of workers' answers run Python
#: in threads; the event loop would wait up to this long for the GIL at every await that returns.
SWITCH_INTERVAL_S = 0.0005


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database and start the ingester; on shutdown stop both and any running job."""
    settings: Settings = app.state.settings
    layout = Layout(settings.data_dir).ensure()
    database = await asyncio.to_thread(Database, layout.events_database, settings.query_threads)
    ingester = Ingester(
        database, layout, settings.checkpoint_after_rows, settings.checkpoint_every_s
    )
    app.state.ingester = ingester
    app.state.queries = EventQueries(database)
    workers: WorkerSource = app.state.workers or HttpWorkers(layout)
    app.state.generator = Generator(settings, workers)
    app.state.broker_probe = BrokerProbe(settings.kafka_bootstrap)
    app.state.catalog = catalog = {p.id: p for p in await aload_catalog(layout.products_path)}
    prepare = statistics.prepare(catalog, settings)
    app.state.tables = tables = TablesClient(workers, settings.tables_refresh_s, prepare)
    app.state.feed = feed = Feed(dashboard.Frames(app).build, settings.dashboard_interval_s)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    # what startup made lives as long as the app: kept out of the collector's full passes
    gc.collect()
    gc.freeze()
    ingesting = asyncio.create_task(ingester.run_forever(settings.ingest_interval_s))
    refreshing = asyncio.create_task(tables.run_forever())
    try:
        yield
    finally:
        ingesting.cancel()
        refreshing.cancel()
        await asyncio.gather(ingesting, refreshing, return_exceptions=True)
        await feed.close()
        await workers.close()
        await app.state.generator.close()
        await asyncio.to_thread(ingester.wait_idle)
        await asyncio.to_thread(database.close)
        gc.unfreeze()


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=503)


def _method_not_allowed(routers: list[APIRouter]) -> HTTPExceptionHandler:
    """A 405 whose `Allow` names every method of the path: each route holds one operation,
    and Starlette's own 405 names only the methods of the route that matched the path."""
    methods: defaultdict[str, set[str]] = defaultdict(set)
    for route in (route for router in routers for route in router.routes):
        if isinstance(route, APIRoute):
            methods[route.path].update(route.methods or ())

    async def answer(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        route = request.scope.get("route")
        if isinstance(route, APIRoute):
            exc = HTTPException(405, headers={"Allow": ", ".join(sorted(methods[route.path]))})
        return await http_exception_handler(request, exc)

    return answer


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Never a traceback to the client; the log keeps it."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def create_app(settings: Settings | None = None, workers: WorkerSource | None = None) -> FastAPI:
    """The app; `workers` stands in for the stream workers found by their heartbeats."""
    settings = settings or get_settings()
    app = FastAPI(
        title="TechStore Vietnam cart tracking",
        version=__version__,
        description="Cart events of simulated TechStore shoppers, streamed through Kafka.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.workers = workers
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["*"],
        )
    app.add_exception_handler(CartsimError, _unavailable)
    app.add_exception_handler(Exception, _internal_error)
    instrument(app)
    routers = [m.router for m in (info, events, statistics, generate, health, dashboard, metrics)]
    for router in routers:
        app.include_router(router)
    app.add_exception_handler(405, _method_not_allowed(routers))
    return app
