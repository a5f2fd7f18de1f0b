"""Pages of stored events, answered by DuckDB in the query threads and returned as JSON bytes.

The route declares `EventPage` for the docs; the page is validated against it here, in the
thread, and serialised by pydantic-core, so the event loop only hands bytes to the socket.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import duckdb

from api.database import EVENT_COLUMNS, Database
from api.schemas import EventPage

_SELECT = ", ".join(f'"{name}"' for name in EVENT_COLUMNS)
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

    def run(self, cursor: duckdb.DuckDBPyConnection) -> EventPage:
        """The page and the total, read in one snapshot (blocking)."""
        where, params = self.where()
        cursor.execute("BEGIN TRANSACTION")
        try:
            counted = cursor.execute(f"SELECT count(*) FROM events{where}", params).fetchone()
            total = counted[0] if counted else 0
            rows: list[tuple[object, ...]] = []
            if self.offset < total:
                order = "ASC" if self.oldest_first else "DESC"
                rows = cursor.execute(
                    f"SELECT {_SELECT} FROM events{where} "
                    f"ORDER BY timestamp_unix {order}, event_id {order} LIMIT ? OFFSET ?",
                    [*params, self.limit, self.offset],
                ).fetchall()
        finally:
            cursor.execute("COMMIT")
        following = self.offset + len(rows)
        return EventPage.model_validate(
            {
                "items": [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in rows],
                "total": total,
                "limit": self.limit,
                "offset": self.offset,
                "next_offset": following if rows and following < total else None,
            }
        )


class EventQueries:
    """Runs event queries on the database's query threads."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def page_json(self, query: EventQuery) -> tuple[bytes, int]:
        """The page as JSON bytes, and its total (the routes turn a total of 0 into a 404)."""

        def work() -> tuple[bytes, int]:
            page = self.database.call(query.run)
            return page.model_dump_json().encode(), page.total

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.database.executor, work)
