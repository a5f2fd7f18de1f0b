"""GET /health: whether the broker, the worker and the storage answer, not just "ok"."""

from __future__ import annotations

from fastapi import APIRouter

from cartsim.api.deps import BrokerProbeDep, IngesterDep, SettingsDep, TablesDep
from cartsim.api.health import storage_health, worker_health
from cartsim.api.schemas import Health
from cartsim.storage import Layout

router = APIRouter(tags=["info"])


@router.get("/health", response_model=Health)
async def health(
    settings: SettingsDep, probe: BrokerProbeDep, ingester: IngesterDep, tables: TablesDep
) -> Health:
    broker = await probe.check()
    worker = worker_health(tables.snapshot)
    storage = storage_health(Layout(settings.data_dir), ingester.status)
    healthy = broker.status == "ok" and storage.status == "ok" and worker.status != "down"
    return Health(
        status="ok" if healthy else "degraded", broker=broker, worker=worker, storage=storage
    )
