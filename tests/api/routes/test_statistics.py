"""/cart/statistics and /cart/abandoned against tables a real worker built."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from cartsim.api.main import create_app
from cartsim.api.routes.statistics import _running
from cartsim.api.tables import Snapshot
from cartsim.settings import Settings
from tests.conftest import Services, wait_until
from tests.recount import recount
from tests.tables import file_partitions, stored_count

COUNT = 8_000
ABANDON_AFTER_S = 20


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    from cartsim.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        services = Services(tmp_path_factory.mktemp("stats"), broker.bootstrap)
        services.env["CARTSIM_ABANDON_AFTER_S"] = str(ABANDON_AFTER_S)
        try:
            services.start("worker")
            services.start("api")
            produced = services.run("produce", "--count", str(COUNT), "--seed", "21")
            assert produced.returncode == 0, produced.stderr
            wait_until(lambda: stored_count(services.data_dir) == COUNT, 90, "stored events")

            def counted() -> bool:
                try:
                    body = httpx.get(f"{services.api_url}/cart/statistics").json()
                except httpx.HTTPError:
                    return False
                return body.get("total_events") == COUNT

            wait_until(counted, 60, "statistics over every event")
            yield services
        finally:
            services.stop_all()


def get(services: Services, path: str, **params: object) -> httpx.Response:
    return httpx.get(f"{services.api_url}{path}", params=params, timeout=10)


def test_statistics_equal_a_recount_of_the_files(pipeline: Services) -> None:
    expected = recount(file_partitions(pipeline.data_dir), ABANDON_AFTER_S * 1000)
    body = get(pipeline, "/cart/statistics", top=5).json()
    assert body["event_types"] == dict(expected.event_type)
    assert body["sources"] == dict(expected.source) and body["devices"] == dict(expected.device)
    assert body["browsers"] == dict(expected.browser)
    funnel = body["funnel"]
    assert (funnel["sessions"], funnel["viewed"], funnel["added_to_cart"]) == (
        expected.funnel["session"],
        expected.funnel["viewed"],
        expected.funnel["added"],
    )
    assert funnel["purchased"] == expected.funnel["purchased"]
    assert body["revenue"]["revenue_vnd"] == expected.revenue_vnd
    assert body["revenue"]["orders"] == expected.orders
    assert body["abandonment"]["abandoned_sessions"] == len(expected.abandoned)
    adds, removes = expected.event_type["add_to_cart"], expected.event_type["remove_from_cart"]
    assert body["add_remove_ratio"] == pytest.approx(adds / removes, abs=1e-4)
    by_views = body["top_products"]["by_views"]
    assert len(by_views) == 5 and by_views[0]["product_name"]
    most_viewed = max(expected.products.items(), key=lambda kv: (kv[1][0], -(kv[0] or 0)))
    assert (by_views[0]["product_id"], by_views[0]["views"]) == (most_viewed[0], most_viewed[1][0])
    assert body["freshness"]["workers"] == 1 and body["freshness"]["partitions"] == 4


def test_a_date_range_counts_events_from_the_minute_windows(pipeline: Services) -> None:
    everything = get(pipeline, "/cart/statistics", start_date="2000-01-01").json()
    assert everything["window"]["total_events"] == COUNT
    running = get(pipeline, "/cart/statistics").json()
    assert running["window"] is None
    assert {k: v for k, v in everything.items() if k not in ("window", "freshness")} == {
        k: v for k, v in running.items() if k not in ("window", "freshness")
    }
    nothing = get(pipeline, "/cart/statistics", end_date="2001-01-01T00:00:00+07:00").json()
    assert nothing["window"]["total_events"] == 0


def test_a_date_range_counts_the_minutes_it_overlaps(pipeline: Services) -> None:
    minutes = recount(file_partitions(pipeline.data_dir)).minutes
    held = sorted({minute for minute, _ in minutes})
    first, last = held[len(held) // 3], held[2 * len(held) // 3]
    start, end = (first * 60 + 30) * 1000, (last * 60 + 10) * 1000  # within the edge minutes
    expected = Counter[str]()
    for (minute, kind), events in minutes.items():
        if first <= minute <= last:
            expected[kind] += events
    body = get(pipeline, "/cart/statistics", start_date=_iso(start), end_date=_iso(end)).json()
    assert body["window"]["event_types"] == dict(expected.most_common())
    assert 0 < body["window"]["total_events"] < COUNT


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def test_abandoned_carts_most_valuable_first(pipeline: Services) -> None:
    expected = recount(file_partitions(pipeline.data_dir), ABANDON_AFTER_S * 1000).abandoned
    assert expected, "the stream must abandon some carts"
    body = get(pipeline, "/cart/abandoned", limit=200, hours_threshold=1).json()
    idle_enough = [i for i in body["items"] if i["idle_hours"] >= 1]
    assert idle_enough == body["items"]
    values = [item["cart_value_vnd"] for item in body["items"]]
    assert values == sorted(values, reverse=True)
    for item in body["items"]:
        assert expected[item["session_id"]] == item["cart_value_vnd"]
        assert item["cart_value_vnd"] == sum(line["line_total_vnd"] for line in item["cart"])
    assert body["total_abandoned"] == len(expected)


def test_bad_parameters_are_422(pipeline: Services) -> None:
    for path, params in (
        ("/cart/abandoned", {"limit": 0}),
        ("/cart/abandoned", {"limit": 201}),
        ("/cart/abandoned", {"hours_threshold": 0}),
        ("/cart/abandoned", {"hours_threshold": 169}),
        ("/cart/statistics", {"top": 0}),
        ("/cart/statistics", {"start_date": "yesterday"}),
        ("/cart/statistics", {"start_date": "2026-01-02", "end_date": "2026-01-01"}),
    ):
        response = get(pipeline, path, **params)
        assert response.status_code == 422, (path, params)
        assert response.json()["detail"]


def test_without_a_worker_the_answer_is_503_with_the_reason(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        for path in ("/cart/statistics", "/cart/abandoned"):
            response = client.get(path)
            assert response.status_code == 503
            assert "cartsim worker" in response.json()["detail"]
        assert client.get("/health").json()["worker"]["status"] == "down"


def test_the_running_statistics_are_computed_once_per_snapshot_and_top(tmp_path: Path) -> None:
    totals = {
        **{name: {} for name in ("event_type", "source", "device", "browser", "funnel")},
        **{name: 0 for name in ("revenue_vnd", "orders", "cancelled_orders", "cancelled_vnd")},
        "products": {"7": [3, 1, 0, 1, 90]},
        "clock_ms": 1_765_000_000_000,
        "o": 3,
    }
    partition = {"log": "feedf00d", "partition": 0, "totals": totals, "abandoned": 0}
    snapshot = Snapshot([partition], [{"url": "http://x", "reachable": True}], 1_765_000_000_500)
    settings = Settings(data_dir=tmp_path)
    first = _running(snapshot, {}, settings, 5)
    assert _running(snapshot, {}, settings, 5) is first
    assert _running(snapshot, {}, settings, 6) is not first
    refreshed = Snapshot(snapshot.partitions, snapshot.workers, snapshot.taken_ms + 250)
    assert _running(refreshed, {}, settings, 5) is not first
    assert first[0].top_products.by_views[0].product_id == 7
