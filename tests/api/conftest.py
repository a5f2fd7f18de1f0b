"""APIs over data folders that the real sink filled: in-process (TestClient) and over TCP."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cartsim.api.database import MINUTE_SQL, TALLIES, Database
from cartsim.api.jobs import simulated_records
from cartsim.api.main import create_app
from cartsim.broker import free_port
from cartsim.settings import Settings
from cartsim.storage import Layout
from cartsim.stream_processors.sink import SegmentSink
from tests.conftest import wait_until

COUNT = 300


def simulated_events(root: Path, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` events of the simulator as the generate endpoint calls it, over `root`'s catalog."""
    records = simulated_records(Settings(data_dir=root), seed, count)
    return [orjson.loads(value) for _, value in records]


def sink_events(root: Path, count: int = COUNT, seed: int = 3) -> list[dict[str, Any]]:
    """`count` simulated events, written by the real sink as if from 3 partitions."""
    generated = simulated_events(root, count, seed)
    sink = SegmentSink(Layout(root), "feedf00d", max_bytes=1 << 20, max_age_s=3600)
    sink.write(
        (index % 3, index // 3, orjson.dumps(event)) for index, event in enumerate(generated)
    )
    sink.close()
    return generated


def ingested(app: FastAPI, rows: int) -> bool:
    """Whether the app's ingester has finished a pass holding `rows` events."""
    status = app.state.ingester.status
    return status.last_run_at is not None and status.rows == rows


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def stored(data_dir: Path) -> list[dict[str, Any]]:
    """The module's events; its tests only read them."""
    return sink_events(data_dir)


def assert_tallies_recount(database: Database) -> None:
    """Every tally table holds exactly what counting the stored events gives."""
    for table, keys in TALLIES.items():
        columns = ", ".join(keys)
        present = " AND ".join(f"{key} IS NOT NULL" for key in keys)
        with database.session() as cursor:
            tallied = cursor.execute(f"SELECT minute, {columns}, events FROM {table} ORDER BY ALL")
            rows = tallied.fetchall()
            recounted = cursor.execute(
                f"SELECT {MINUTE_SQL} AS minute, {columns}, count(*) FROM events "
                f"WHERE {present} GROUP BY ALL ORDER BY ALL"
            ).fetchall()
        assert rows == recounted, table


def api_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test API: fast ingest passes, no broker unless given one."""
    values: dict[str, Any] = {"ingest_interval_s": 0.05, "kafka_bootstrap": None, **overrides}
    return Settings(data_dir=data_dir, **values)


@pytest.fixture(scope="module")
def client(data_dir: Path, stored: list[dict[str, Any]]) -> Iterator[TestClient]:
    app = create_app(api_settings(data_dir))
    with TestClient(app) as test_client:
        wait_until(lambda: ingested(app, len(stored)), 10, "the fixture's events ingested")
        yield test_client


class ServedApi:
    """uvicorn serving the app on a free loopback port, in a thread of this process."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=asyncio.run, args=(self.server.serve(),))

    def __enter__(self) -> ServedApi:
        self.thread.start()
        wait_until(lambda: self.server.started, 10, "uvicorn to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def served(data_dir: Path, stored: list[dict[str, Any]]) -> Iterator[ServedApi]:
    """A real server over the module's stored events."""
    with ServedApi(create_app(api_settings(data_dir))) as api:
        wait_until(lambda: ingested(api.app, len(stored)), 10, "the served events ingested")
        yield api
