"""The API's DuckDB file: its schema, and connections that are safe to use from worker threads.

One process (the API) owns the file, because DuckDB allows one writing process. A DuckDB
connection must not be shared between threads, so each thread gets its own cursor of the one
database; every call here blocks and belongs in a thread, never on the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import duckdb

from cartsim.events import DEVICES, EVENT_TYPES, PAYMENT_METHODS, SOURCES

T = TypeVar("T")

#: Fields of an event, in `CartEvent` order, with the DuckDB types they are checked against.
EVENT_FIELDS: dict[str, str] = {
    "event_id": "VARCHAR",
    "event_type": "event_type",
    "timestamp": "VARCHAR",
    "timestamp_unix": "BIGINT",
    "session_id": "VARCHAR",
    "customer_id": "BIGINT",
    "is_guest": "BOOLEAN",
    "source": "source",
    "device": "device",
    "browser": "VARCHAR",
    "product_id": "BIGINT",
    "product_name": "VARCHAR",
    "product_price_vnd": "BIGINT",
    "quantity": "BIGINT",
    "line_total_vnd": "BIGINT",
    "category": "VARCHAR",
    "brand": "VARCHAR",
    "search_query": "VARCHAR",
    "cart_total_vnd": "BIGINT",
    "order_id": "VARCHAR",
    "payment_method": "payment_method",
    "city": "VARCHAR",
}

_ENUMS = {
    "event_type": EVENT_TYPES,
    "source": SOURCES,
    "device": DEVICES,
    "payment_method": PAYMENT_METHODS,
}


def _enum(values: tuple[str, ...]) -> str:
    return "ENUM(" + ", ".join("'" + value.replace("'", "''") + "'" for value in values) + ")"


#: Fields kept as columns of `events` to filter and sort on; the whole event is the JSON text
#: column `event`, so a page reads one column per row instead of twenty-two.
INDEXED_FIELDS = (
    "event_type",
    "timestamp_unix",
    "session_id",
    "customer_id",
    "source",
    "device",
    "product_id",
)


def _schema() -> list[str]:
    enums = [f"CREATE TYPE IF NOT EXISTS {name} AS {_enum(v)}" for name, v in _ENUMS.items()]
    columns = ",\n    ".join(f'"{name}" {EVENT_FIELDS[name]}' for name in INDEXED_FIELDS)
    return [
        *enums,
        # one row per segment identity: how far into its bytes the events table is
        """CREATE TABLE IF NOT EXISTS segments (
    segment_id INTEGER PRIMARY KEY,
    log VARCHAR NOT NULL,
    partition INTEGER NOT NULL,
    first_offset BIGINT NOT NULL,
    ingested_bytes BIGINT NOT NULL,
    ingested_rows BIGINT NOT NULL,
    UNIQUE (log, partition, first_offset)
)""",
        "CREATE TABLE IF NOT EXISTS events (\n    segment_id INTEGER NOT NULL,\n"
        f"    {columns},\n    event VARCHAR NOT NULL\n)",
        # ART indexes for the point lookups; DuckDB uses them when few rows match
        "CREATE INDEX IF NOT EXISTS events_session ON events (session_id)",
        "CREATE INDEX IF NOT EXISTS events_customer ON events (customer_id)",
        "CREATE INDEX IF NOT EXISTS events_product ON events (product_id)",
    ]


class Database:
    """The events database file, with a pool of query threads that each hold a cursor."""

    def __init__(self, path: Path, query_threads: int = 4) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.connection = duckdb.connect(str(path))
        for statement in _schema():
            self.connection.execute(statement)
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        self.executor = ThreadPoolExecutor(query_threads, thread_name_prefix="duckdb-query")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's own connection to the database."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self.connection.cursor()
            with self._cursors_lock:
                self._cursors.append(cursor)
        return cursor

    def call(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run `work` with this thread's cursor (call from a worker thread)."""
        return work(self.cursor())

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        with self._cursors_lock:
            for cursor in self._cursors:
                cursor.close()
            self._cursors.clear()
        self.connection.close()
