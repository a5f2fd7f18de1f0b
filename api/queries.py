"""Pages of stored events, answered by DuckDB in the query threads and returned as JSON bytes.

Each stored event is already the JSON of a valid `CartEvent` (the ingester checked and rebuilt
it), so a page is those lines, read from the payload files (`api.payloads`) at the positions
DuckDB gives, joined into the `EventPage` envelope the route declares; the event loop only hands
bytes to the socket.

A page's positions are found in one of two ways, each from one snapshot, so its total and its
items agree:

- A session or customer has at most a few hundred events: the ART index gives their times and
  positions (the count is their number) and the page is picked here.
- A listing or a product may match millions: the per-minute tallies give the exact total and say
  which minutes hold the page, so DuckDB ranks only the matches in those minutes (the timestamp
  zone maps skip the rest of the table) instead of every match. Partial minutes at the edges of
  a date range are counted from the events themselves.

Ties in time keep insertion order (`rowid`), so paging is stable.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import duckdb
import orjson

from cartsim.api.database import MINUTE_MS, Database
from cartsim.api.payloads import Ref

#: filter name -> SQL condition with one parameter
_CONDITIONS = {
    "event_type": "event_type = ?",
    "source": "source = ?",
    "device": "device = ?",
    "customer_id": "customer_id = ?",
    "product_id": "product_id = ?",
    "session_id": "session_id = ?",
}
_INDEXED = ("session_id", "customer_id")  # lookups answered through an ART index
_ORDER = "ORDER BY timestamp_unix {0}, rowid {0}"  # ties in time keep insertion order
#: Matches a page may skip in its minutes before they are narrowed to seconds: DuckDB sorts
#: every match of the minutes to skip them (a minute of a 1,000 events/s stream, 58,000 rows,
#: took 5.5 ms), and counting them by second first costs less than that.
_SORTED_SKIP = 1_000


Slice = tuple[int, int, int]  # matches in [first ms, last ms] of event time: first, last, matches


@dataclass(frozen=True)
class EventQuery:
    """Which events, which page, and in which order (newest first unless `oldest_first`).

    `filters` holds at most one id (`session_id`, `customer_id` or `product_id`) or any of
    `event_type`, `source`, `device`, `start_ms` and `end_ms` (inclusive); None means any.
    """

    limit: int
    offset: int
    filters: dict[str, object] = field(default_factory=dict)
    oldest_first: bool = False

    def _used(self) -> dict[str, object]:
        return {name: value for name, value in self.filters.items() if value is not None}

    def _conditions(self) -> tuple[list[str], list[object]]:
        used = [(n, v) for n, v in self._used().items() if n in _CONDITIONS]
        return [_CONDITIONS[n] for n, _ in used], [v for _, v in used]

    def run(self, database: Database, cursor: duckdb.DuckDBPyConnection) -> tuple[bytes, int]:
        """The page as `EventPage` JSON and the total of matching events (blocking)."""
        if any(name in self._used() for name in _INDEXED):
            refs, total = self._indexed(cursor)  # one statement: its own snapshot
        else:
            cursor.execute("BEGIN TRANSACTION")
            try:
                refs, total = self._tallied(cursor)
            finally:
                cursor.execute("COMMIT")
        events = database.payloads.read(refs)
        following = self.offset + len(events)
        envelope = orjson.dumps(
            {
                "total": total,
                "limit": self.limit,
                "offset": self.offset,
                "next_offset": following if events and following < total else None,
            }
        )
        return b'{"items":[' + b",".join(events) + b"]," + envelope[1:], total

    def _indexed(self, cursor: duckdb.DuckDBPyConnection) -> tuple[list[Ref], int]:
        """Every match's time and payload position through the index (DuckDB uses an ART index
        for a selective equality, not under ORDER BY ... LIMIT), the page picked here."""
        conditions, params = self._conditions()
        matches = cursor.execute(
            f"SELECT timestamp_unix, rowid, segment_id, payload FROM events "
            f"WHERE {' AND '.join(conditions)}",
            params,
        ).fetchall()
        matches.sort(reverse=not self.oldest_first)  # by time, ties in insertion order
        page = matches[self.offset : self.offset + self.limit]
        return [(segment, payload) for _, _, segment, payload in page], len(matches)

    def _tallied(self, cursor: duckdb.DuckDBPyConnection) -> tuple[list[Ref], int]:
        slices = self.slices(cursor)
        total = sum(matches for _, _, matches in slices)
        if self.offset >= total:
            return [], total
        first_ms, last_ms, skip = _window(slices, self.offset, self.limit, self.oldest_first)
        conditions, params = self._conditions()
        where = " AND ".join([*conditions, "timestamp_unix BETWEEN ? AND ?"])
        if skip > _SORTED_SKIP:  # the page lies deep in its minutes: narrow them to seconds
            seconds = cursor.execute(
                "SELECT min(timestamp_unix), max(timestamp_unix), count(*) FROM events "
                f"WHERE {where} GROUP BY timestamp_unix // 1000",
                [*params, first_ms, last_ms],
            ).fetchall()
            first_ms, last_ms, skip = _window(sorted(seconds), skip, self.limit, self.oldest_first)
        order = _ORDER.format("ASC" if self.oldest_first else "DESC")
        rows = cursor.execute(
            f"SELECT segment_id, payload FROM events WHERE {where} {order} LIMIT ? OFFSET ?",
            [*params, first_ms, last_ms, self.limit, skip],
        ).fetchall()
        return rows, total

    def slices(self, cursor: duckdb.DuckDBPyConnection) -> list[Slice]:
        """Matches per minute from the tallies, and exact counts of the partial minutes at the
        edges of the date range, oldest first."""
        used = self._used()
        start, end = used.get("start_ms"), used.get("end_ms")
        assert start is None or isinstance(start, int)
        assert end is None or isinstance(end, int)
        conditions, params = self._conditions()
        product = "product_id" in used  # product_minutes has one row per product and minute
        first = None if start is None else -(-start // MINUTE_MS)  # first whole minute
        last = None if end is None else (end + 1) // MINUTE_MS - 1  # last whole minute
        parts: list[str] = []
        values: list[object] = []

        def counted(low: int, high: int) -> None:
            where = " AND ".join([*conditions, "timestamp_unix BETWEEN ? AND ?"])
            parts.append(f"SELECT ?, ?, count(*) FROM events WHERE {where}")
            values.extend([low, high, *params, low, high])

        if start is not None and end is not None and start // MINUTE_MS >= end // MINUTE_MS - 1:
            counted(start, end)  # within at most two minutes: count them
        else:
            whole = [*conditions]
            if first is not None:
                whole.append(f"minute >= {first:d}")
            if last is not None:
                whole.append(f"minute <= {last:d}")
            parts.append(  # a minute's row comes without its last ms, made here: less to convert
                f"SELECT minute, NULL, events FROM product_minutes{_where(whole)}"
                if product
                else "SELECT minute, NULL, sum(events)::BIGINT "
                f"FROM minute_tallies{_where(whole)} GROUP BY minute"
            )
            values.extend(params)
            if first is not None and start is not None and start < first * MINUTE_MS:
                counted(start, first * MINUTE_MS - 1)
            if last is not None and end is not None and (last + 1) * MINUTE_MS <= end:
                counted((last + 1) * MINUTE_MS, end)
        rows = cursor.execute(" UNION ALL ".join(parts), values).fetchall()
        return sorted(
            (low * MINUTE_MS, low * MINUTE_MS + MINUTE_MS - 1, n)
            if high is None
            else (low, high, n)
            for low, high, n in rows
            if n
        )


def _where(conditions: list[str]) -> str:
    return " WHERE " + " AND ".join(conditions) if conditions else ""


def _window(
    slices: list[Slice], offset: int, limit: int, oldest_first: bool
) -> tuple[int, int, int]:
    """The time span of the slices that hold matches offset .. offset + limit - 1 in page
    order, and how many matches of that span come before the page."""
    ordered = slices if oldest_first else slices[::-1]
    seen = 0
    chosen: list[Slice] = []
    skip = 0
    for piece in ordered:
        if seen + piece[2] > offset:
            if not chosen:
                skip = offset - seen
            chosen.append(piece)
        seen += piece[2]
        if seen >= offset + limit:
            break
    return min(p[0] for p in chosen), max(p[1] for p in chosen), skip


class EventQueries:
    """Runs event queries on the database's query threads."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def page_json(self, query: EventQuery) -> tuple[bytes, int]:
        """The page as JSON bytes, and its total (the routes turn a total of 0 into a 404)."""

        def work() -> tuple[bytes, int]:
            with self.database.session() as cursor:
                return query.run(self.database, cursor)

        return await asyncio.get_running_loop().run_in_executor(self.database.executor, work)
