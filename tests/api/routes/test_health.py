from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from cartsim.api.main import create_app
from cartsim.broker import EmbeddedBroker, free_port
from tests.api.conftest import api_settings
from tests.api.fake_workers import FakeWorker, FakeWorkers, empty_tables
from tests.conftest import wait_until


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


def worker_status(tmp_path: Path, *workers: FakeWorker) -> dict[str, str]:
    app = create_app(api_settings(tmp_path), workers=FakeWorkers(*workers))
    with TestClient(app) as client:
        wait_until(lambda: app.state.tables.snapshot.taken_ms, 10, "the first snapshot")
        return client.get("/health").json()["worker"]


def test_a_worker_that_answers_is_ok_with_its_address_and_partitions(tmp_path: Path) -> None:
    tables = empty_tables("0dd0feed", [0, 2])
    worker = worker_status(tmp_path, FakeWorker([tables], url="http://worker:6066"))
    assert worker["status"] == "ok"
    assert worker["detail"] == "1 worker(s) own partitions [0, 2]: http://worker:6066"


def test_a_worker_that_beats_but_does_not_answer_is_down(tmp_path: Path) -> None:
    worker = worker_status(tmp_path, FakeWorker(url="http://worker:6066", reachable=False))
    assert worker["status"] == "down"
    assert worker["detail"] == "no worker answered at its web address: http://worker:6066"
