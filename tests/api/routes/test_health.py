from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from cartsim.api.main import create_app
from cartsim.broker import EmbeddedBroker, free_port
from tests.api.conftest import api_settings


def test_health_reports_storage_and_the_ingester(client: TestClient) -> None:
    body = client.get("/health").json()
    storage = body["storage"]
    assert storage["status"] == "ok" and storage["ingest"]["rows"] == 300
    assert storage["ingest"]["seconds_since_last_run"] < 5 and storage["ingest"]["error"] is None
    assert body["worker"]["status"] == "down"  # no worker runs in this test
    # no broker configured: reads work, generating does not, so the API is degraded
    assert body["broker"]["status"] == "not_configured" and body["status"] == "degraded"


def test_an_unreachable_broker_is_down(tmp_path: Path) -> None:
    settings = api_settings(tmp_path, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    with TestClient(create_app(settings)) as client:
        body = client.get("/health").json()
    assert body["broker"]["status"] == "down" and body["status"] == "degraded"


def test_a_running_broker_is_ok(tmp_path: Path, broker: EmbeddedBroker) -> None:
    with TestClient(create_app(api_settings(tmp_path, kafka_bootstrap=broker.bootstrap))) as c:
        body = c.get("/health").json()
        assert body["broker"]["status"] == "ok", body["broker"]
        assert broker.bootstrap in body["broker"]["detail"]
