"""schemathesis over the OpenAPI document, with every check it has, against a real uvicorn
server deployed as a user runs it: stored events, a stream worker's tables, the API key set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from cartsim import moments
from cartsim.api.main import create_app
from cartsim.stream_processors.aggregate import Rules
from tests.api.conftest import ServedApi, api_settings, ingested
from tests.api.fake_workers import FakeWorker, FakeWorkers, tables_of_files
from tests.conftest import wait_until

KEY = "contract-test-key"

# The document is built without starting the app; the test below checks the server serves it.
DOCUMENT = create_app().openapi()
schema = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=SchemathesisConfig.from_dict(
        {
            # every check schemathesis has, as `--checks all` on its command line
            "checks": {"enabled": True},
            "generation": {"mode": "all", "deterministic": True},
            # the key goes only where the document declares the security scheme
            "auth": {"openapi": {"APIKeyHeader": {"api_key": KEY}}},
        }
    ),
)


def _epoch_ms(value: object) -> int | None:
    """The instant of a query value as the API reads it, or None when it reads none."""
    try:
        return moments.epoch_ms(moments.parse_moment(value)) if isinstance(value, str) else None
    except ValueError:
        return None


@schema.hook
def map_query(ctx: schemathesis.HookContext, query: dict[str, Any] | None) -> dict[str, Any] | None:
    """A range's `start_date` before its `end_date`, the one rule a JSON Schema cannot say:
    a reversed range is refused with a 422 (tests/api/routes/test_events.py)."""
    start, end = (_epoch_ms((query or {}).get(name)) for name in ("start_date", "end_date"))
    if query is None or start is None or end is None or start <= end:
        return query
    return {**query, "start_date": query["end_date"], "end_date": query["start_date"]}


@pytest.fixture(scope="module")
def deployed(data_dir: Path, stored: list[dict[str, Any]]) -> Iterator[ServedApi]:
    """A server over the module's stored events, with a worker's tables and the key set."""
    app_settings = api_settings(data_dir, api_key=KEY)
    worker = FakeWorker(tables_of_files(data_dir, Rules.of(app_settings)))
    with ServedApi(create_app(app_settings, workers=FakeWorkers(worker))) as api:
        wait_until(lambda: ingested(api.app, len(stored)), 10, "the served events ingested")
        yield api


def test_the_server_serves_the_document_under_test(deployed: ServedApi) -> None:
    assert httpx.get(f"{deployed.url}/openapi.json").json() == DOCUMENT


@schema.parametrize()
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_every_check_passes(case: schemathesis.Case, deployed: ServedApi) -> None:
    case.call_and_validate(base_url=deployed.url)
