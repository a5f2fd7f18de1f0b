"""The two ways a page is read (through an index and sorted here, or ranked by DuckDB) agree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.database import Database
from api.ingest import Ingester
from api.queries import EventQuery
from api.schemas import EventPage
from cartsim.storage import Layout
from tests.api.conftest import sink_events


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, list[Any]]]:
    root: Path = tmp_path_factory.mktemp("queries")
    stored = sink_events(root, count=600)
    database = Database(Layout(root).events_database)
    Ingester(database, Layout(root)).run_once()
    yield database, stored
    database.close()


@pytest.mark.parametrize("oldest_first", [False, True])
@pytest.mark.parametrize("offset", [0, 37, 599, 600])
@pytest.mark.parametrize("filters", [{}, {"device": "mobile"}, {"event_type": "view_item"}])
def test_ranked_and_indexed_pages_are_the_same(
    database: tuple[Database, list[Any]],
    filters: dict[str, object],
    offset: int,
    oldest_first: bool,
) -> None:
    db, _ = database
    query = EventQuery(limit=50, offset=offset, filters=filters, oldest_first=oldest_first)
    cursor = db.cursor()
    assert query._top(cursor) == query._indexed(cursor)


def test_a_page_counts_and_orders(database: tuple[Database, list[Any]]) -> None:
    db, stored = database
    query = EventQuery(limit=1000, offset=0, filters={"source": "website"})
    cursor = db.cursor()
    page = EventPage.model_validate_json(query.run(cursor, query.count(cursor)))
    expected = [event for event in stored if event["source"] == "website"]
    assert page.total == len(expected) == len(page.items) and page.next_offset is None
    assert {item.event_id for item in page.items} == {event["event_id"] for event in expected}
    stamps = [item.timestamp_unix for item in page.items]
    assert stamps == sorted(stamps, reverse=True)
