"""The FastAPI application: settings in, routers mounted, nothing else."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.routes import events, info
from api.store import EventStore
from cartsim import __version__
from cartsim.settings import Settings, get_settings
from cartsim.storage import Layout


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="TechStore Vietnam cart tracking",
        version=__version__,
        description="Cart events of simulated TechStore shoppers, streamed through Kafka.",
    )
    app.state.settings = settings
    app.state.store = EventStore(Layout(settings.data_dir).ensure())
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["*"],
        )
    app.include_router(info.router)
    app.include_router(events.router)
    return app
