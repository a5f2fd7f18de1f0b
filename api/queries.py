"""Pages of stored events, answered by DuckDB in the query threads and returned as JSON bytes.

Each stored event is already the JSON of a valid `CartEvent` (the ingester checked and rebuilt
it), so a page is those texts joined into the `EventPage` envelope the route declares; the event
loop only hands bytes to the socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import orjson

from api.database import Database

Row = tuple[int, int, str]  # rowid, timestamp_unix, event JSON
#: Up to this many matches a page is fetched whole through an index and sorted in Python.
_FETCH_ALL = 2048
_CACHED_TOTALS = 10_000
_FILTERS = {  # filter name -> SQL condition with one parameter
    "event_type": "event_type = ?",
    "source": "source = ?",
    "device": "device = ?",
    "start_ms": "timestamp_unix >= ?",
    "end_ms": "timestamp_unix <= ?",
    "customer_id": "customer_id = ?",
    "product_id": "product_id = ?",
    "session_id": "session_id = ?",
}


@dataclass(frozen=True)
class EventQuery:
    """Which events, which page, and in which order (newest first unless `oldest_first`)."""

    limit: int
    offset: int
    filters: dict[str, object] = field(default_factory=dict)
    oldest_first: bool = False

    def where(self) -> tuple[str, list[object]]:
        used = [(name, value) for name, value in self.filters.items() if value is not None]
        if not used:
            return "", []
        return " WHERE " + " AND ".join(_FILTERS[name] for name, _ in used), [v for _, v in used]

    def run(self, cursor: duckdb.DuckDBPyConnection, total: int) -> bytes:
        """The page as `EventPage` JSON, given the total of matching events (blocking)."""
        rows: list[Row] = []
        if self.offset < total:
            rows = self._indexed(cursor) if total <= _FETCH_ALL else self._top(cursor)
        following = self.offset + len(rows)
        envelope = orjson.dumps(
            {
                "total": total,
                "limit": self.limit,
                "offset": self.offset,
                "next_offset": following if rows and following < total else None,
            }
        )
        items = ",".join(event for _, _, event in rows).encode()
        return b'{"items":[' + items + b"]," + envelope[1:]

    def count(self, cursor: duckdb.DuckDBPyConnection) -> int:
        where, params = self.where()
        counted = cursor.execute(f"SELECT count(*) FROM events{where}", params).fetchone()
        return counted[0] if counted else 0

    def _indexed(self, cursor: duckdb.DuckDBPyConnection) -> list[Row]:
        """Few matches: fetch them all without ORDER BY, so DuckDB may use an ART index (it does
        not under ORDER BY ... LIMIT), and sort here."""
        where, params = self.where()
        rows = cursor.execute(
            f"SELECT rowid, timestamp_unix, event FROM events{where}", params
        ).fetchall()
        rows.sort(key=_order_key, reverse=not self.oldest_first)
        return rows[self.offset : self.offset + self.limit]

    def _top(self, cursor: duckdb.DuckDBPyConnection) -> list[Row]:
        """Many matches: rank them reading two columns only, then fetch the page's rows whole
        (late materialisation). Ties in time are broken by insertion order (rowid)."""
        where, params = self.where()
        order = "ASC" if self.oldest_first else "DESC"
        ranking = f"ORDER BY timestamp_unix {order}, rowid {order}"
        return cursor.execute(
            "SELECT rowid, timestamp_unix, event FROM events WHERE rowid IN "
            f"(SELECT rowid FROM events{where} {ranking} LIMIT ? OFFSET ?) {ranking}",
            [*params, self.limit, self.offset],
        ).fetchall()


def _order_key(row: Row) -> tuple[int, int]:
    return row[1], row[0]


class EventQueries:
    """Runs event queries on the database's query threads.

    Totals are cached per filter until the ingester next changes the table, so paging through
    one listing counts its matches once.
    """

    def __init__(self, database: Database, version: Callable[[], int]) -> None:
        self.database = database
        self.version = version
        self._totals: dict[tuple[str, tuple[object, ...]], tuple[int, int]] = {}

    async def page_json(self, query: EventQuery) -> tuple[bytes, int]:
        """The page as JSON bytes, and its total (the routes turn a total of 0 into a 404)."""

        def work() -> tuple[bytes, int]:
            cursor = self.database.cursor()
            total = self._total(cursor, query)
            return query.run(cursor, total), total

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.database.executor, work)

    def _total(self, cursor: duckdb.DuckDBPyConnection, query: EventQuery) -> int:
        where, params = query.where()
        key, version = (where, tuple(params)), self.version()
        cached = self._totals.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        if len(self._totals) > _CACHED_TOTALS:
            self._totals.clear()
        total = query.count(cursor)
        self._totals[key] = (version, total)
        return total
