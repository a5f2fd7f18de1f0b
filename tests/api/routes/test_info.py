from __future__ import annotations

from fastapi.testclient import TestClient

from cartsim.events import EVENT_TYPES


def test_api_information_lists_the_vocabulary_and_the_docs(client: TestClient) -> None:
    body = client.get("/cart/").json()
    assert body["event_types"] == list(EVENT_TYPES)
    assert "mobile_app" in body["sources"] and "tablet" in body["devices"]
    assert client.get(body["docs"]).status_code == 200
    assert client.get(body["redoc"]).status_code == 200
    assert client.get(body["openapi"]).json()["paths"]["/cart/events"]


def test_health_reports_storage(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["storage_ok"] is True
