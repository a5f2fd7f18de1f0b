"""Dependencies the routes share, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from cartsim.api.feed import Feed
from cartsim.api.health import BrokerProbe
from cartsim.api.ingest import Ingester
from cartsim.api.jobs import Generator
from cartsim.api.queries import EventQueries
from cartsim.api.tables import TablesClient
from cartsim.producer.catalog import Product
from cartsim.settings import Settings


async def get_queries(request: Request) -> EventQueries:
    return cast("EventQueries", request.app.state.queries)


async def get_ingester(request: Request) -> Ingester:
    return cast("Ingester", request.app.state.ingester)


async def get_generator(request: Request) -> Generator:
    return cast("Generator", request.app.state.generator)


async def get_broker_probe(request: Request) -> BrokerProbe:
    return cast("BrokerProbe", request.app.state.broker_probe)


async def get_tables(request: Request) -> TablesClient:
    return cast("TablesClient", request.app.state.tables)


async def get_feed(request: Request) -> Feed:
    return cast("Feed", request.app.state.feed)


async def get_catalog(request: Request) -> dict[int, Product]:
    return cast("dict[int, Product]", request.app.state.catalog)


async def get_app_settings(request: Request) -> Settings:
    return cast("Settings", request.app.state.settings)


QueriesDep = Annotated[EventQueries, Depends(get_queries)]
IngesterDep = Annotated[Ingester, Depends(get_ingester)]
GeneratorDep = Annotated[Generator, Depends(get_generator)]
BrokerProbeDep = Annotated[BrokerProbe, Depends(get_broker_probe)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
TablesDep = Annotated[TablesClient, Depends(get_tables)]
CatalogDep = Annotated[dict[int, Product], Depends(get_catalog)]
FeedDep = Annotated[Feed, Depends(get_feed)]
