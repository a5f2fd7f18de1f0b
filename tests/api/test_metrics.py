"""The API's /metrics, scraped and parsed with prometheus-client's own parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from cartsim.api.main import create_app
from tests.api.conftest import api_settings
from tests.conftest import wait_until

LATENCY = "cartsim_http_request_duration_seconds"


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests(samples: dict[Any, float], route: str, status: str, method: str = "GET") -> float:
    labels = (("method", method), ("route", route), ("status", status))
    return samples.get((f"{LATENCY}_count", labels), 0.0)


def test_latency_is_counted_by_route_template_and_status(client: TestClient) -> None:
    before = scrape(client)
    for _ in range(3):
        assert client.get("/cart/events", params={"limit": 1}).status_code == 200
    for session in ("sess_nobody", "sess_nobody_else"):
        assert client.get(f"/cart/events/session/{session}").status_code == 404
    assert client.get("/cart/events", params={"limit": 0}).status_code == 422
    assert client.get("/no/such/page").status_code == 404
    after = scrape(client)
    assert requests(after, "/cart/events", "200") - requests(before, "/cart/events", "200") == 3
    session_route = "/cart/events/session/{session_id}"
    assert requests(after, session_route, "404") - requests(before, session_route, "404") == 2
    assert requests(after, "/cart/events", "422") - requests(before, "/cart/events", "422") == 1
    assert requests(after, "unmatched", "404") - requests(before, "unmatched", "404") == 1
    assert requests(after, "/metrics", "200") - requests(before, "/metrics", "200") == 1
    raw_paths = [key for key in after if "sess_nobody" in str(key)]
    assert raw_paths == [], "a raw path became a label"
    buckets = [
        (dict(labels)["le"], value)
        for (name, labels), value in after.items()
        if name == f"{LATENCY}_bucket"
        and dict(labels)["route"] == "/cart/events"
        and dict(labels)["status"] == "200"
    ]
    assert dict(buckets)["+Inf"] == requests(after, "/cart/events", "200")


def test_ingest_figures_match_health(client: TestClient, stored: list[dict[str, Any]]) -> None:
    samples = scrape(client)
    ingest = client.get("/health").json()["storage"]["ingest"]
    assert samples[("cartsim_ingest_rows", ())] == ingest["rows"] == len(stored)
    assert samples[("cartsim_ingest_segments", ())] == ingest["segments"] == 3
    assert samples[("cartsim_ingest_pending_bytes", ())] == 0
    lag = samples[("cartsim_ingest_lag_seconds", ())]
    assert lag == ingest["lag_seconds"] and lag >= 0
    assert samples[("cartsim_workers_live", ())] == 0  # no worker runs here
    assert samples[("cartsim_dashboard_listeners", ())] == 0


def test_a_generation_job_reports_its_progress(tmp_path: Path) -> None:
    """Without a broker the job fails at once: planned 100, produced 0, state failed."""
    with TestClient(create_app(api_settings(tmp_path))) as client:
        assert ("cartsim_generate_job_planned_events", ()) not in scrape(client)
        started = client.post("/cart/generate/events", params={"count": 100, "method": "new"})
        assert started.status_code == 202
        wait_until(
            lambda: client.get("/cart/generate/status").json()["state"] != "running", 10, "the job"
        )
        samples = scrape(client)
    assert samples[("cartsim_generate_job_planned_events", ())] == 100
    assert samples[("cartsim_generate_job_produced_events", ())] == 0
    states = {
        dict(labels)["state"]: value
        for (name, labels), value in samples.items()
        if name == "cartsim_generate_job_state"
    }
    assert states == {"running": 0, "succeeded": 0, "failed": 1, "cancelled": 0}
