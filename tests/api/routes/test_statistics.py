"""/cart/statistics and /cart/abandoned against tables a real worker built."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from cartsim.api.main import create_app
from cartsim.api.routes.statistics import _running
from cartsim.api.statistics import AbandonedPage
from cartsim.api.tables import SeenWorker, Snapshot, TablesClient
from cartsim.api.workers import Seen, decode_in_pieces
from cartsim.settings import Settings
from cartsim.stream_processors import views
from cartsim.stream_processors.aggregate import Rules
from cartsim.worker_views import (
    AbandonedAnswer,
    AbandonedQuery,
    FunnelCounts,
    Heartbeat,
    PartitionTotals,
    ProductColumns,
    TotalsAnswer,
    decode_answer,
    encode_answer,
)
from tests.api.conftest import api_settings
from tests.api.fake_workers import FakeWorker, FakeWorkers, store_events, tables_of_files
from tests.conftest import Services, wait_until
from tests.recount import Recount, recount
from tests.tables import file_partitions, stored_count

COUNT = 8_000
ABANDON_AFTER_S = 20
FAKE_COUNT = 6_000


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """The real pipeline: broker, worker, API and a producer."""
    from cartsim.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        services = Services(tmp_path_factory.mktemp("stats"), broker.bootstrap)
        services.env["CARTSIM_ABANDON_AFTER_S"] = str(ABANDON_AFTER_S)
        try:
            services.start("worker")
            services.start("api")
            # three hours of event time, so some carts are idle for more than an hour
            span = ("--start", "2026-01-01T00:00", "--end", "2026-01-01T03:00")
            produced = services.run("produce", "--count", str(COUNT), "--seed", "21", *span)
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


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with stored events and no process running over it."""
    root = tmp_path_factory.mktemp("fake-stats")
    store_events(root, FAKE_COUNT, seed=21, rate=1.0)  # 100 minutes of event time
    return root


@pytest.fixture(scope="module")
def faked(files: Path) -> Iterator[TestClient]:
    """The API over an in-process worker whose tables hold the stored events."""
    rules = Rules.of(Settings(abandon_after_s=ABANDON_AFTER_S))
    worker = FakeWorker(tables_of_files(files, rules))
    app = create_app(api_settings(files), workers=FakeWorkers(worker))
    with TestClient(app) as client:
        wait_until(lambda: app.state.tables.snapshot.partitions, 10, "the first snapshot")
        yield client


def expected_of(data_dir: Path) -> Recount:
    return recount(file_partitions(data_dir), ABANDON_AFTER_S * 1000)


def get(services: Services, path: str, **params: object) -> httpx.Response:
    return httpx.get(f"{services.api_url}{path}", params=params, timeout=10)


def assert_statistics_recount(body: dict[str, Any], expected: Recount) -> None:
    assert body["event_types"] == dict(expected.event_type)
    assert body["sources"] == dict(expected.source) and body["devices"] == dict(expected.device)
    assert body["browsers"] == dict(expected.browser)
    funnel = body["funnel"]
    assert (funnel["sessions"], funnel["viewed"], funnel["added_to_cart"]) == (
        expected.funnel["session"],
        expected.funnel["viewed"],
        expected.funnel["added"],
    )
    assert (funnel["began_checkout"], funnel["purchased"]) == (
        expected.funnel["checkout"],
        expected.funnel["purchased"],
    )
    assert body["revenue"]["revenue_vnd"] == expected.revenue_vnd
    assert body["revenue"]["orders"] == expected.orders
    assert body["abandonment"]["abandoned_sessions"] == len(expected.abandoned)
    adds, removes = expected.event_type["add_to_cart"], expected.event_type["remove_from_cart"]
    assert body["add_remove_ratio"] == pytest.approx(adds / removes, abs=1e-4)
    products = {k: v for k, v in expected.products.items() if k is not None}
    for ranking, index in (("by_views", 0), ("by_adds", 1), ("by_purchases", 3), ("by_revenue", 4)):
        top = body["top_products"][ranking]
        assert len(top) == 5 and top[0]["product_name"], ranking
        ranked = sorted(products, key=lambda p: (-products[p][index], p))[:5]
        assert [item["product_id"] for item in top] == ranked, ranking
        for item in top:
            counters = products[item["product_id"]]
            named = ("views", "adds", "removes", "units_purchased", "revenue_vnd")
            assert [item[name] for name in named] == counters, ranking


def test_statistics_equal_a_recount_of_the_files_on_the_real_pipeline(
    pipeline: Services,
) -> None:
    body = get(pipeline, "/cart/statistics", top=5).json()
    assert_statistics_recount(body, expected_of(pipeline.data_dir))
    assert body["freshness"]["workers"] == 1 and body["freshness"]["partitions"] == 4
    everything = get(pipeline, "/cart/statistics", start_date="2000-01-01").json()
    assert everything["window"]["total_events"] == COUNT


def test_statistics_equal_a_recount_of_the_files(faked: TestClient, files: Path) -> None:
    body = faked.get("/cart/statistics", params={"top": 5}).json()
    assert_statistics_recount(body, expected_of(files))
    assert body["freshness"]["workers"] == 1 and body["freshness"]["partitions"] == 4
    assert body["total_events"] == FAKE_COUNT


def test_a_date_range_counts_events_from_the_minute_windows(faked: TestClient) -> None:
    everything = faked.get("/cart/statistics", params={"start_date": "2000-01-01"}).json()
    assert everything["window"]["total_events"] == FAKE_COUNT
    running = faked.get("/cart/statistics").json()
    assert running["window"] is None
    assert {k: v for k, v in everything.items() if k not in ("window", "freshness")} == {
        k: v for k, v in running.items() if k not in ("window", "freshness")
    }
    params = {"end_date": "2001-01-01T00:00:00+07:00"}
    nothing = faked.get("/cart/statistics", params=params).json()
    assert nothing["window"]["total_events"] == 0


def test_a_date_range_counts_the_minutes_it_overlaps(faked: TestClient, files: Path) -> None:
    minutes = recount(file_partitions(files)).minutes
    held = sorted({minute for minute, _ in minutes})
    first, last = held[len(held) // 3], held[2 * len(held) // 3]
    start, end = (first * 60 + 30) * 1000, (last * 60 + 10) * 1000  # within the edge minutes
    expected = Counter[str]()
    for (minute, kind), events in minutes.items():
        if first <= minute <= last:
            expected[kind] += events
    params = {"start_date": _iso(start), "end_date": _iso(end)}
    body = faked.get("/cart/statistics", params=params).json()
    assert body["window"]["event_types"] == dict(expected.most_common())
    assert 0 < body["window"]["total_events"] < FAKE_COUNT


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def assert_abandoned_recount(body: dict[str, Any], expected: dict[str, int]) -> None:
    assert expected, "the stream must abandon some carts"
    assert body["items"], "some carts must be idle for an hour"
    idle_enough = [i for i in body["items"] if i["idle_hours"] >= 1]
    assert idle_enough == body["items"]
    values = [item["cart_value_vnd"] for item in body["items"]]
    assert values == sorted(values, reverse=True)
    for item in body["items"]:
        assert expected[item["session_id"]] == item["cart_value_vnd"]
        assert item["cart_value_vnd"] == sum(line["line_total_vnd"] for line in item["cart"])
    assert body["total_abandoned"] == len(expected)


def test_abandoned_carts_most_valuable_first_on_the_real_pipeline(pipeline: Services) -> None:
    body = get(pipeline, "/cart/abandoned", limit=200, hours_threshold=1).json()
    assert_abandoned_recount(body, expected_of(pipeline.data_dir).abandoned)


def test_abandoned_carts_most_valuable_first(faked: TestClient, files: Path) -> None:
    expected = expected_of(files).abandoned
    body = faked.get("/cart/abandoned", params={"limit": 200, "hours_threshold": 1}).json()
    assert_abandoned_recount(body, expected)
    few = faked.get("/cart/abandoned", params={"limit": 3, "hours_threshold": 1}).json()
    assert few["items"] == body["items"][:3]


def test_bad_parameters_are_422(faked: TestClient) -> None:
    for path, params in (
        ("/cart/abandoned", {"limit": 0}),
        ("/cart/abandoned", {"limit": 201}),
        ("/cart/abandoned", {"hours_threshold": 0}),
        ("/cart/abandoned", {"hours_threshold": 169}),
        ("/cart/statistics", {"top": 0}),
        ("/cart/statistics", {"start_date": "yesterday"}),
        ("/cart/statistics", {"start_date": "0.5"}),
        ("/cart/statistics", {"start_date": "2026-01-02", "end_date": "2026-01-01"}),
    ):
        response = faked.get(path, params=params)
        assert response.status_code == 422, (path, params)
        assert response.json()["detail"]


@pytest.mark.parametrize("workers", [FakeWorkers(), FakeWorkers(FakeWorker(reachable=False))])
def test_without_a_worker_the_answer_is_503_with_the_reason(
    tmp_path: Path, workers: FakeWorkers
) -> None:
    with TestClient(create_app(api_settings(tmp_path), workers=workers)) as client:
        for path in ("/cart/statistics", "/cart/abandoned"):
            response = client.get(path)
            assert response.status_code == 503
            assert "cartsim worker" in response.json()["detail"]


def test_the_running_statistics_are_computed_once_per_snapshot_and_top(tmp_path: Path) -> None:
    totals = PartitionTotals(
        log="feedf00d",
        partition=0,
        offset=3,
        clock_ms=1_765_000_000_000,
        events=4,
        event_types={},
        sources={},
        devices={},
        browsers={},
        funnel=FunnelCounts(),
        products=ProductColumns(
            product_id=[7], views=[3], adds=[1], removes=[0], units_purchased=[1], revenue_vnd=[90]
        ),
        revenue_vnd=0,
        orders=0,
        cancelled_orders=0,
        cancelled_vnd=0,
        abandoned_carts=0,
    )
    worker = SeenWorker(Heartbeat(url="http://x", pid=1, partitions=[0]), reachable=True)
    snapshot = Snapshot([totals], [worker], 1_765_000_000_500)
    settings = Settings(data_dir=tmp_path)
    first = _running(snapshot, {}, settings, 5)
    assert _running(snapshot, {}, settings, 5) is first
    assert _running(snapshot, {}, settings, 6) is not first
    refreshed = Snapshot(snapshot.partitions, snapshot.workers, snapshot.taken_ms + 250)
    assert _running(refreshed, {}, settings, 5) is not first
    assert first[0].top_products.by_views[0].product_id == 7


def test_the_abandoned_page_is_the_json_its_model_writes(faked: TestClient) -> None:
    body = faked.get("/cart/abandoned", params={"limit": 200, "hours_threshold": 1}).content
    assert body == AbandonedPage.model_validate_json(body).model_dump_json().encode()


def test_abandoned_carts_are_asked_once_per_snapshot_and_threshold(files: Path) -> None:
    rules = Rules.of(Settings(abandon_after_s=ABANDON_AFTER_S))
    workers = CountingWorkers(FakeWorker(tables_of_files(files, rules)))
    tables = TablesClient(workers)

    async def ask() -> tuple[list[list[str]], int]:
        snapshot = await tables.refresh()
        pages = await asyncio.gather(
            tables.abandoned_carts(snapshot, 1, 20),
            tables.abandoned_carts(snapshot, 1, 5),
            tables.abandoned_carts(snapshot, 2, 5),
        )
        asked = workers.asked
        refreshed = await tables.refresh()  # fetches the thresholds asked lately
        again = await tables.abandoned_carts(refreshed, 1, 20)
        assert workers.asked == asked + 2
        assert again == pages[0]
        return [[cart["session_id"] for cart in page] for page in pages], asked

    (twenty, five, idler), asked = asyncio.run(ask())
    assert asked == 2 and len(twenty) > 5 and five == twenty[:5] and not idler  # 100 minutes


def test_a_large_answer_decodes_in_pieces_as_it_decodes_whole(files: Path) -> None:
    rules = Rules.of(Settings(abandon_after_s=ABANDON_AFTER_S))
    sources = tables_of_files(files, rules)
    for answer in (
        views.totals(sources, views.Parsed()),
        views.abandoned(sources, AbandonedQuery(limit=1000, idle_before_ms=2**62), views.Parsed()),
    ):
        body = encode_answer(answer)
        assert decode_in_pieces(type(answer), body) == decode_answer(type(answer), body)
    wrong = orjson.loads(encode_answer(views.totals(sources, views.Parsed())))
    wrong["partitions"][-1]["events"] = "7"
    with pytest.raises(ValidationError):
        decode_in_pieces(TotalsAnswer, orjson.dumps(wrong))


def test_totals_reuse_the_partitions_that_did_not_change_and_validate_the_others(
    files: Path,
) -> None:
    rules = Rules.of(Settings(abandon_after_s=ABANDON_AFTER_S))
    body = encode_answer(views.totals(tables_of_files(files, rules), views.Parsed()))
    seen: Seen = {}
    first = decode_in_pieces(TotalsAnswer, body, seen)
    again = decode_in_pieces(TotalsAnswer, body, seen)
    assert again == first == decode_answer(TotalsAnswer, body)
    assert all(a is b for a, b in zip(again.partitions, first.partitions, strict=True))
    changed = orjson.loads(body)
    changed["partitions"][-1]["events"] += 1
    moved = decode_in_pieces(TotalsAnswer, orjson.dumps(changed), seen)
    assert moved == decode_answer(TotalsAnswer, orjson.dumps(changed))
    assert (
        moved.partitions[0] is first.partitions[0] and moved.partitions[-1] != first.partitions[-1]
    )
    changed["partitions"][-1]["events"] = "7"
    with pytest.raises(ValidationError):
        decode_in_pieces(TotalsAnswer, orjson.dumps(changed), seen)


class CountingWorkers(FakeWorkers):
    """Fake workers that count the abandoned carts they are asked for."""

    asked = 0

    async def abandoned(self, worker: Heartbeat, query: AbandonedQuery) -> AbandonedAnswer:
        self.asked += 1
        return await super().abandoned(worker, query)
