"""Pages found through the tallies or an index equal a plain ranking of every match."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from cartsim.api import queries
from cartsim.api.database import Database
from cartsim.api.ingest import Ingester
from cartsim.api.queries import EventQuery
from cartsim.api.schemas import EventPage
from cartsim.moments import VIETNAM
from cartsim.storage import Layout
from cartsim.stream_processors.sink import SegmentSink
from tests.api.conftest import assert_tallies_recount, simulated_events

COUNT = 1500
BASE_MS = 1_765_000_000_000  # on a minute boundary


def spread(generated: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The events moved over about three hours, in time order, with runs of equal times (ties)
    and some on minute boundaries, so pages cross minutes and break ties by insertion order."""
    rng = random.Random(seed)
    stamps = sorted(BASE_MS + rng.randrange(3 * 3_600_000) for _ in generated)
    for index in range(0, len(stamps) - 3, 40):
        stamps[index + 1 : index + 3] = [stamps[index]] * 2  # three events in the same ms
    for index in range(5, len(stamps), 97):
        stamps[index] -= stamps[index] % 60_000  # exactly on a minute
    stamps.sort()
    moved = []
    for event, stamp in zip(generated, stamps, strict=True):
        at = datetime.fromtimestamp(stamp / 1000, VIETNAM).isoformat(timespec="milliseconds")
        moved.append({**event, "timestamp_unix": stamp, "timestamp": at})
    return moved


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, list[Any]]]:
    """Events ingested in several passes (a closed segment whole, an open one batch by batch),
    so the tallies are added to across batches and partitions."""
    root: Path = tmp_path_factory.mktemp("queries")
    layout = Layout(root).ensure()
    generated = spread(simulated_events(root, COUNT, seed=3), 9)
    database = Database(layout.events_database)
    ingester = Ingester(database, layout)
    closed = SegmentSink(layout, "feedf00d", max_bytes=1 << 30, max_age_s=3600)
    closed.write((0, offset, orjson.dumps(e)) for offset, e in enumerate(generated[0::2]))
    closed.close()
    ingester.run_once()
    growing = SegmentSink(layout, "feedf00d", max_bytes=1 << 30, max_age_s=3600)
    odd = generated[1::2]
    for first in range(0, len(odd), 150):
        batch = odd[first : first + 150]
        growing.write((1, first + i, orjson.dumps(e)) for i, e in enumerate(batch))
        ingester.run_once()
    growing.close()
    assert ingester.run_once().rows == COUNT
    yield database, generated
    database.close()


_SQL = {
    "event_type": "event_type = ?",
    "source": "source = ?",
    "device": "device = ?",
    "start_ms": "timestamp_unix >= ?",
    "end_ms": "timestamp_unix <= ?",
    "customer_id": "customer_id = ?",
    "product_id": "product_id = ?",
    "session_id": "session_id = ?",
}


def ranked(database: Database, query: EventQuery) -> tuple[list[str], int]:
    """The page and total by ranking every match: slow, and obviously right."""
    used = {name: value for name, value in query.filters.items() if value is not None}
    where = " AND ".join(_SQL[name] for name in used) or "true"
    order = "ASC" if query.oldest_first else "DESC"
    with database.session() as cursor:
        rows = cursor.execute(
            f"SELECT segment_id, payload FROM events WHERE {where} "
            f"ORDER BY timestamp_unix {order}, rowid {order} LIMIT ? OFFSET ?",
            [*used.values(), query.limit, query.offset],
        ).fetchall()
        counted = cursor.execute(f"SELECT count(*) FROM events WHERE {where}", [*used.values()])
        total = counted.fetchone()
    assert total is not None
    events = database.payloads.read(rows)
    return [orjson.loads(event)["event_id"] for event in events], total[0]


def served(database: Database, query: EventQuery) -> tuple[list[str], int]:
    with database.session() as cursor:
        body, total = query.run(database, cursor)
    page = EventPage.model_validate_json(body)
    assert page.total == total
    return [item.event_id for item in page.items], total


def filter_sets(generated: list[dict[str, Any]]) -> list[dict[str, object]]:
    """Listings, date ranges with and without partial minutes, and every kind of id."""
    some = generated[COUNT // 3]
    minute = some["timestamp_unix"] - some["timestamp_unix"] % 60_000
    return [
        {},
        {"event_type": "view_item"},
        {"source": some["source"], "device": some["device"]},
        {"start_ms": minute + 12_345},
        {"end_ms": minute + 59_999},
        {"start_ms": minute, "end_ms": minute + 3_600_000},
        {"event_type": "view_item", "start_ms": minute + 1, "end_ms": minute + 7_200_001},
        {"start_ms": minute + 100, "end_ms": minute + 30_000},  # within one minute
        {"start_ms": minute + 30_000, "end_ms": minute + 90_000},  # across two partial minutes
        {"start_ms": minute, "end_ms": minute - 1},  # nothing
        {"product_id": next(e["product_id"] for e in generated if e["product_id"] is not None)},
        {"customer_id": next(e["customer_id"] for e in generated if e["customer_id"])},
        {"session_id": some["session_id"]},
        {"event_type": "purchase", "product_id": None},  # None means any
    ]


@pytest.mark.parametrize("oldest_first", [False, True])
@pytest.mark.parametrize(("offset", "limit"), [(0, 100), (37, 50), (700, 1000), (1499, 7)])
@pytest.mark.parametrize("case", range(14))
def test_pages_equal_a_plain_ranking(
    stored: tuple[Database, list[Any]],
    case: int,
    offset: int,
    limit: int,
    oldest_first: bool,
) -> None:
    database, generated = stored
    query = EventQuery(limit, offset, filter_sets(generated)[case], oldest_first)
    assert served(database, query) == ranked(database, query)


@pytest.mark.parametrize("oldest_first", [False, True])
@pytest.mark.parametrize(("offset", "limit"), [(5, 3), (37, 50), (700, 1000), (1499, 7)])
@pytest.mark.parametrize("case", range(14))
def test_pages_deep_in_their_minutes_equal_a_plain_ranking(
    stored: tuple[Database, list[Any]],
    case: int,
    offset: int,
    limit: int,
    oldest_first: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Any skip narrows the page's minutes to seconds here, as a deep page of a fast stream's
    minutes does."""
    monkeypatch.setattr(queries, "_SORTED_SKIP", 0)
    database, generated = stored
    query = EventQuery(limit, offset, filter_sets(generated)[case], oldest_first)
    assert served(database, query) == ranked(database, query)


def test_every_page_of_a_listing_together_is_every_match_once(
    stored: tuple[Database, list[Any]],
) -> None:
    database, generated = stored
    seen: list[str] = []
    for offset in range(0, COUNT + 1, 64):
        page, total = served(database, EventQuery(64, offset, {"device": "mobile"}))
        seen.extend(page)
    expected = [e for e in generated if e["device"] == "mobile"]
    assert total == len(expected) == len(seen)
    assert set(seen) == {e["event_id"] for e in expected}


def test_the_tallies_equal_a_recount_of_the_events(stored: tuple[Database, list[Any]]) -> None:
    assert_tallies_recount(stored[0])
