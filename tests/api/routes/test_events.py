from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def test_pages_cover_every_event_once_newest_first(
    client: TestClient, stored: list[dict[str, Any]]
) -> None:
    ids: list[str] = []
    stamps: list[int] = []
    offset: int | None = 0
    while offset is not None:
        body = client.get("/cart/events", params={"limit": 70, "offset": offset}).json()
        assert body["total"] == len(stored) and body["limit"] == 70 and body["offset"] == offset
        ids.extend(item["event_id"] for item in body["items"])
        stamps.extend(item["timestamp_unix"] for item in body["items"])
        offset = body["next_offset"]
    assert sorted(ids) == sorted(event["event_id"] for event in stored)
    assert stamps == sorted(stamps, reverse=True)


def test_events_keep_every_public_field(client: TestClient, stored: list[dict[str, Any]]) -> None:
    item = client.get("/cart/events", params={"limit": 1}).json()["items"][0]
    original = next(event for event in stored if event["event_id"] == item["event_id"])
    for field, value in original.items():
        if field != "timestamp":
            assert item[field] == value, field


def test_bad_paging_is_a_422_with_the_reason(client: TestClient) -> None:
    for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "many"}):
        response = client.get("/cart/events", params=params)
        assert response.status_code == 422, params
        assert response.json()["detail"][0]["loc"][-1] in params
