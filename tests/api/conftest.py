"""An API over a data folder that the real sink filled."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from cartsim.settings import Settings
from cartsim.storage import Layout
from producer.journeys import events
from stream_processors.sink import SegmentSink


@pytest.fixture
def stored(tmp_path: Path) -> list[dict[str, Any]]:
    """300 simulated events, sunk as if they came from 3 partitions."""
    generated = list(islice(events(seed=3), 300))
    sink = SegmentSink(Layout(tmp_path), "feedf00d", max_bytes=1 << 20, max_age_s=3600)
    sink.write(
        (index % 3, index // 3, orjson.dumps(event)) for index, event in enumerate(generated)
    )
    sink.close()
    return generated


@pytest.fixture
def client(tmp_path: Path, stored: list[dict[str, Any]]) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=tmp_path))) as test_client:
        yield test_client
