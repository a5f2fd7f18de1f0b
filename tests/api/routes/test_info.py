from __future__ import annotations

from fastapi.testclient import TestClient

from cartsim.events import EVENT_TYPES


def test_api_information_lists_the_vocabulary_the_endpoints_and_the_docs(
    client: TestClient,
) -> None:
    body = client.get("/cart/").json()
    assert body["event_types"] == list(EVENT_TYPES)
    assert "mobile_app" in body["sources"] and "tablet" in body["devices"]
    assert {"/cart/events", "/cart/events/session/{session_id}", "/health"} <= set(
        body["endpoints"]
    )
    assert client.get(body["docs"]).status_code == 200
    assert client.get(body["redoc"]).status_code == 200
    paths = client.get(body["openapi"]).json()["paths"]
    assert set(body["endpoints"]) == set(paths)
