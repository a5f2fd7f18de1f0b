from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

Event = dict[str, Any]


def all_pages(client: TestClient, path: str, **params: Any) -> list[Event]:
    """Every item of a paged listing, checking the envelope on the way."""
    items: list[Event] = []
    offset: int | None = 0
    while offset is not None:
        body = client.get(path, params={**params, "limit": 70, "offset": offset}).json()
        assert body["limit"] == 70 and body["offset"] == offset
        items.extend(body["items"])
        offset = body["next_offset"]
        assert offset is None or offset == len(items) < body["total"]
    assert len(items) == body["total"]
    return items


def assert_newest_first(served: list[Event], expected: list[Event]) -> None:
    """The same events, once each, newest first (ties in time in any order)."""
    ids = [item["event_id"] for item in served]
    assert len(ids) == len(set(ids)) and set(ids) == {event["event_id"] for event in expected}
    stamps = [item["timestamp_unix"] for item in served]
    assert stamps == sorted(stamps, reverse=True)


def test_pages_cover_every_event_once_newest_first(client: TestClient, stored: list[Event]) -> None:
    assert_newest_first(all_pages(client, "/cart/events"), stored)


def test_events_keep_every_field(client: TestClient, stored: list[Event]) -> None:
    by_id = {event["event_id"]: event for event in stored}
    for item in client.get("/cart/events", params={"limit": 1000}).json()["items"]:
        original = by_id[item["event_id"]]
        assert datetime.fromisoformat(item["timestamp"]) == datetime.fromisoformat(
            original["timestamp"]
        )
        assert {k: v for k, v in item.items() if k != "timestamp"} == {
            k: v for k, v in original.items() if k != "timestamp"
        }


@pytest.mark.parametrize("field", ["event_type", "source", "device"])
def test_each_filter_keeps_exactly_the_matching_events(
    client: TestClient, stored: list[Event], field: str
) -> None:
    value = stored[7][field]
    served = all_pages(client, "/cart/events", **{field: value})
    assert_newest_first(served, [event for event in stored if event[field] == value])


def test_filters_combine(client: TestClient, stored: list[Event]) -> None:
    first = stored[11]
    params = {"event_type": first["event_type"], "device": first["device"]}
    served = all_pages(client, "/cart/events", **params)
    expected = [e for e in stored if all(e[k] == v for k, v in params.items())]
    assert {item["event_id"] for item in served} == {e["event_id"] for e in expected}


def test_dates_are_inclusive_and_naive_means_vietnam_time(
    client: TestClient, stored: list[Event]
) -> None:
    stamps = sorted(event["timestamp_unix"] for event in stored)
    low, high = stamps[50], stamps[200]
    vietnam = timezone(timedelta(hours=7))
    naive_low = datetime.fromtimestamp(low / 1000, vietnam).replace(tzinfo=None)
    utc_high = datetime.fromtimestamp(high / 1000, UTC)
    served = all_pages(
        client, "/cart/events", start_date=naive_low.isoformat(), end_date=utc_high.isoformat()
    )
    expected = [event for event in stored if low <= event["timestamp_unix"] <= high]
    assert {item["event_id"] for item in served} == {event["event_id"] for event in expected}


UTC_ZONE = UTC


def test_a_date_alone_is_a_day_in_vietnam(client: TestClient, stored: list[Event]) -> None:
    day = stored[0]["timestamp"][:10]  # stored timestamps carry +07:00
    body = client.get("/cart/events", params={"start_date": day}).json()
    assert body["total"] == len(stored)
    next_day = (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()
    assert client.get("/cart/events", params={"start_date": next_day}).json()["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"offset": -1},
        {"offset": 2**63},
        {"limit": "many"},
        {"event_type": "teleport"},
        {"source": "fax"},
        {"device": "toaster"},
        {"start_date": "yesterday"},
        {"start_date": "0.5"},
        {"end_date": "1731330000"},
        {"end_date": "2025-13-01"},
        {"start_date": "2025-12-18T10:00:00", "end_date": "2025-12-18T09:00:00"},
    ],
)
def test_bad_parameters_are_a_422_naming_the_parameter(
    client: TestClient, params: dict[str, Any]
) -> None:
    response = client.get("/cart/events", params=params)
    assert response.status_code == 422, params
    error = response.json()["detail"][0]
    assert error["loc"][-1] in params and error["msg"]


def test_an_offset_past_the_end_is_an_empty_last_page(client: TestClient) -> None:
    body = client.get("/cart/events", params={"offset": 10**15}).json()
    assert body["items"] == [] and body["next_offset"] is None and body["total"] > 0


@pytest.mark.parametrize(
    ("kind", "field"), [("customer", "customer_id"), ("product", "product_id")]
)
def test_lookups_page_one_id_newest_first(
    client: TestClient, stored: list[Event], kind: str, field: str
) -> None:
    value = next(event[field] for event in stored if event[field] is not None)
    served = all_pages(client, f"/cart/events/{kind}/{value}")
    assert_newest_first(served, [event for event in stored if event[field] == value])


def test_a_session_reads_in_time_order(client: TestClient, stored: list[Event]) -> None:
    session = max(
        {event["session_id"] for event in stored},
        key=lambda s: sum(event["session_id"] == s for event in stored),
    )
    served = all_pages(client, f"/cart/events/session/{session}")
    expected = [event for event in stored if event["session_id"] == session]
    assert len(expected) > 1
    assert_newest_first(served[::-1], expected)


@pytest.mark.parametrize(
    "path", ["/cart/events/customer/999999999", "/cart/events/product/0", "/cart/events/session/x"]
)
def test_unknown_ids_are_a_404_with_the_reason(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["detail"].startswith("no events for ")


@pytest.mark.parametrize(
    "path",
    ["/cart/events/customer/abc", "/cart/events/product/-1", f"/cart/events/product/{2**63}"],
)
def test_malformed_ids_are_a_422(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 422
