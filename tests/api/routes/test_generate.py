from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartsim.api.main import create_app
from cartsim.broker import EmbeddedBroker
from tests.api.conftest import api_settings
from tests.api.fake_workers import FakeWorker, FakeWorkers, empty_tables
from tests.conftest import Services, wait_until
from tests.stored import stored_id_counts


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[TestClient]:
    """An API that requires X-API-Key: s3cret and has no broker."""
    with TestClient(create_app(api_settings(tmp_path, api_key="s3cret"))) as client:
        yield client


def finished(client: TestClient) -> dict[str, Any] | None:
    body = client.get("/cart/generate/status").json()
    return None if body["state"] == "running" else body


@pytest.mark.parametrize(
    "params",
    [{}, {"count": 99}, {"count": 1_000_001}, {"count": "lots"}, {"count": 100, "method": "x"}],
)
def test_bad_generate_parameters_are_a_422(client: TestClient, params: dict[str, Any]) -> None:
    assert client.post("/cart/generate/events", params=params).status_code == 422


def test_the_api_key_guards_every_change(keyed: TestClient) -> None:
    params = {"count": 100, "method": "new"}
    assert keyed.post("/cart/generate/events", params=params).status_code == 401
    wrong = {"X-API-Key": "guess"}
    assert keyed.get("/cart/generate/events", params=params, headers=wrong).status_code == 401
    assert keyed.delete("/cart/generate/status").status_code == 401
    assert keyed.get("/cart/generate/status").status_code == 404  # reading needs no key
    right = {"X-API-Key": "s3cret"}
    assert keyed.post("/cart/generate/events", params=params, headers=right).status_code == 202


def test_a_job_without_a_broker_fails_with_the_reason(keyed: TestClient) -> None:
    assert keyed.delete("/cart/generate/status", headers={"X-API-Key": "s3cret"}).status_code == 404
    started = keyed.post(
        "/cart/generate/events",
        params={"count": 100, "method": "new"},
        headers={"X-API-Key": "s3cret"},
    ).json()
    assert started["total"] == 100 and started["method"] == "new"
    done = wait_until(lambda: finished(keyed), 10, "the job to end")
    assert done["job_id"] == started["job_id"] and done["state"] == "failed"
    assert "CARTSIM_KAFKA_BOOTSTRAP" in done["errors"][0]


def run_jobs(client: TestClient, *methods: str) -> list[dict[str, Any]]:
    """Each job to its end, one after the other."""
    outcomes = []
    for method in methods:
        params = {"count": 200, "method": method, "seed": 5}
        assert client.post("/cart/generate/events", params=params).status_code == 202
        outcomes.append(wait_until(lambda: finished(client), 60, f"the {method} job to end"))
    return outcomes


def test_a_replace_asks_every_worker_to_clear_below_the_high_watermarks(
    tmp_path: Path, broker: EmbeddedBroker
) -> None:
    workers = [
        FakeWorker([empty_tables("0dd0feed", owned)], url=f"http://worker-{n}:6066")
        for n, owned in enumerate(([0, 1], [2, 3]))
    ]
    settings = api_settings(tmp_path, kafka_bootstrap=broker.bootstrap)
    with TestClient(create_app(settings, FakeWorkers(*workers))) as client:
        new, replace = run_jobs(client, "new", "replace")
    assert new["state"] == replace["state"] == "succeeded", (new, replace)
    asked = [[request.high_watermarks for request in worker.replaced] for worker in workers]
    assert len(asked[0]) == 1 and asked[0] == asked[1]
    marks = asked[0][0]
    assert set(marks) == {0, 1, 2, 3} and sum(marks.values()) == 200


def test_a_replace_fails_with_the_reason_when_no_worker_owns_a_partition(
    tmp_path: Path, broker: EmbeddedBroker
) -> None:
    worker = FakeWorker([empty_tables("0dd0feed", [0, 1])])
    settings = api_settings(tmp_path, kafka_bootstrap=broker.bootstrap)
    with TestClient(create_app(settings, FakeWorkers(worker))) as client:
        _, replace = run_jobs(client, "new", "replace")
    assert replace["state"] == "failed" and replace["produced"] == 0
    assert "partitions [2, 3] were not cleared" in replace["errors"][0]


def test_generated_events_flow_through_the_pipeline_a_job_can_be_cancelled_and_replace(
    services: Services,
) -> None:
    services.start("worker")
    bootstrap = services.env["CARTSIM_KAFKA_BOOTSTRAP"]
    app = create_app(api_settings(services.data_dir, kafka_bootstrap=bootstrap))
    with TestClient(app) as client:
        big = client.post("/cart/generate/events", params={"count": 1_000_000, "method": "new"})
        assert big.status_code == 202
        busy = client.get("/cart/generate/events", params={"count": 100, "method": "new"})
        assert busy.status_code == 409 and "running" in busy.json()["detail"]
        assert client.delete("/cart/generate/status").json()["job_id"] == big.json()["job_id"]
        cancelled = wait_until(lambda: finished(client), 30, "the cancelled job to end")
        assert cancelled["state"] == "cancelled" and cancelled["produced"] < 1_000_000

        params = {"count": 500, "method": "new", "seed": 11}
        assert client.post("/cart/generate/events", params=params).status_code == 202
        done = wait_until(lambda: finished(client), 60, "the second job to end")
        assert done["state"] == "succeeded" and done["produced"] == 500 and done["seed"] == 11
        assert done["eta_seconds"] is None and done["rate"] > 0

        expected = cancelled["produced"] + 500
        wait_until(
            lambda: client.get("/cart/events", params={"limit": 1}).json()["total"] == expected,
            90,
            f"{expected} generated events served",
        )
        before = set(stored_id_counts(services.data_dir))

        # replace, the default: exactly the new events remain, in the files, tables and queries
        assert client.post("/cart/generate/events", params={"count": 300}).status_code == 202
        done = wait_until(lambda: finished(client), 60, "the replace job to end")
        assert done["state"] == "succeeded" and done["method"] == "replace", done
        wait_until(
            lambda: sum(stored_id_counts(services.data_dir).values()) == 300, 60, "300 in files"
        )
        stored = stored_id_counts(services.data_dir)
        assert set(stored.values()) == {1} and not stored.keys() & before
        wait_until(
            lambda: client.get("/cart/events", params={"limit": 1}).json()["total"] == 300,
            30,
            "only the 300 new events served",
        )
        wait_until(
            lambda: client.get("/cart/statistics").json()["total_events"] == 300,
            30,
            "statistics over the 300 new events only",
        )
