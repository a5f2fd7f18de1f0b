"""One large simulated stream, shared by the calibration and consistency tests."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import orjson
import pytest

from cartsim.moments import VIETNAM
from cartsim.producer.catalog import Product, build_catalog
from cartsim.producer.journeys import backfill

#: Two weeks around 11.11, so the stream also shows a sale day against ordinary days.
START = datetime(2024, 11, 4, tzinfo=VIETNAM)
END = datetime(2024, 11, 18, tzinfo=VIETNAM)
COUNT = 150_000
SEED = 20_241_111


@pytest.fixture(scope="session")
def products() -> tuple[Product, ...]:
    return build_catalog()


@pytest.fixture(scope="session")
def raw_stream(products: tuple[Product, ...]) -> list[tuple[bytes, bytes]]:
    return list(backfill(SEED, START, END, COUNT, products))


@pytest.fixture(scope="session")
def stream(raw_stream: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    return [orjson.loads(value) for _, value in raw_stream]


@pytest.fixture(scope="session")
def sessions(stream: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Events by session, in stream order; sessions cut by the end of the stream are left out."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in stream:
        grouped[event["session_id"]].append(event)
    return {
        sid: events for sid, events in grouped.items() if events[-1]["event_type"] == "exit_page"
    }
