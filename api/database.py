"""The API's DuckDB file: its schema, and connections that are safe to use from worker threads.

One process (the API) owns the file, because DuckDB allows one writing process. A DuckDB
connection must not be shared between threads, so each thread gets its own cursor of the one
database; every call here blocks and belongs in a thread, never on the event loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import cast

import duckdb

from cartsim.api.payloads import Payloads
from cartsim.events import EVENT_FIELDS

log = logging.getLogger(__name__)

#: DuckDB type of each kind of event field; an enumerated field has an ENUM type of its name.
#: Timestamps stay text as the producer wrote them (their offset is part of the event); the
#: ingester checks that each is an instant.
_DUCKDB_TYPES: dict[type, str] = {
    str: "VARCHAR",
    int: "BIGINT",
    bool: "BOOLEAN",
    datetime: "VARCHAR",
}

#: Fields of an event, in `CartEvent` order, with the DuckDB types they are checked against.
EVENT_COLUMNS: dict[str, str] = {
    field.name: field.name if field.choices else _DUCKDB_TYPES[field.type] for field in EVENT_FIELDS
}

_ENUMS = {field.name: field.choices for field in EVENT_FIELDS if field.choices}


def _enum(values: tuple[str, ...]) -> str:
    return "ENUM(" + ", ".join("'" + value.replace("'", "''") + "'" for value in values) + ")"


#: Fields kept as columns of `events` to filter and sort on; the whole event is a JSON line in
#: the segment's payload file (`api.payloads`), found by `segment_id` and `payload`.
INDEXED_FIELDS = (
    "event_type",
    "timestamp_unix",
    "session_id",
    "customer_id",
    "source",
    "device",
    "product_id",
)


#: Which minute of event time an event falls in (floor division, also before 1970), as SQL.
MINUTE_SQL = (
    "CASE WHEN timestamp_unix >= 0 THEN timestamp_unix // 60000 "
    "ELSE -((-(timestamp_unix + 1)) // 60000) - 1 END"
)
MINUTE_MS = 60_000

#: Events per minute of event time, by the columns a listing or a product lookup filters on.
#: They give exact totals without counting the events table, and tell a page which minutes hold
#: its rows, so DuckDB ranks only those instead of every match.
TALLIES: dict[str, tuple[str, ...]] = {
    "minute_tallies": ("event_type", "source", "device"),
    "product_minutes": ("product_id",),
}


def _tally_table(name: str) -> str:
    keys = TALLIES[name]
    columns = "".join(f'    "{key}" {EVENT_COLUMNS[key]} NOT NULL,\n' for key in keys)
    return (
        f"CREATE TABLE IF NOT EXISTS {name} (\n    minute BIGINT NOT NULL,\n{columns}"
        f"    events BIGINT NOT NULL,\n    PRIMARY KEY (minute, {', '.join(keys)})\n)"
    )


def tally_sql(name: str, source: str, sign: str = "") -> str:
    """Add (or with sign "-" take away) the events of `source` to the tally table `name`."""
    keys = ", ".join(f'"{key}"' for key in TALLIES[name])
    present = " AND ".join(f'"{key}" IS NOT NULL' for key in TALLIES[name])
    return (
        f"INSERT INTO {name} SELECT {MINUTE_SQL} AS minute, {keys}, {sign}count(*) FROM {source} "
        f"WHERE {present} GROUP BY ALL "
        "ON CONFLICT DO UPDATE SET events = events + excluded.events"
    )


def _schema() -> list[str]:
    enums = [f"CREATE TYPE IF NOT EXISTS {name} AS {_enum(v)}" for name, v in _ENUMS.items()]
    columns = ",\n    ".join(f'"{name}" {EVENT_COLUMNS[name]}' for name in INDEXED_FIELDS)
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
    payload_bytes BIGINT NOT NULL,
    UNIQUE (log, partition, first_offset)
)""",
        # never reused, so a deleted segment's payload file can never be taken for a new one's
        "CREATE SEQUENCE IF NOT EXISTS segment_ids",
        "CREATE TABLE IF NOT EXISTS events (\n    segment_id INTEGER NOT NULL,\n"
        f"    {columns},\n    payload BIGINT NOT NULL\n)",
        # ART indexes for the session and customer lookups (a few hundred rows at most)
        "CREATE INDEX IF NOT EXISTS events_session ON events (session_id)",
        "CREATE INDEX IF NOT EXISTS events_customer ON events (customer_id)",
    ]


def _older_format(connection: duckdb.DuckDBPyConnection) -> bool:
    """Whether the file holds an events table without payload positions (one that kept each
    event's JSON in a column): it is a cache of the sink's files, so it is rebuilt rather than
    converted."""
    found = connection.execute(
        "SELECT count(*) FILTER (column_name = 'payload'), count(*) FROM duckdb_columns() "
        "WHERE table_name = 'events' AND schema_name = 'main'"
    ).fetchall()[0]  # read to its end, which ends its transaction (`Database.checkpoint`)
    return bool(found[1] > 0 and found[0] == 0)


def _cluster_by_product(cursor: duckdb.DuckDBPyConnection) -> None:
    """Rewrite `product_minutes` in product order. Rows arrive in time order, so every row group
    held every product and a product page scanned the whole table for its minutes; clustered,
    the zone maps skip all but the product's rows (over 10 M events, 350,000 rows: 1.43 against
    0.52 ms per product, and 0.19 s to rewrite). Rows added later go at the end until the next
    checkpoint clusters them too."""
    cursor.execute("BEGIN TRANSACTION")
    try:
        cursor.execute("ALTER TABLE product_minutes RENAME TO product_minutes_unclustered")
        cursor.execute(_tally_table("product_minutes"))
        cursor.execute(
            "INSERT INTO product_minutes SELECT * FROM product_minutes_unclustered "
            "ORDER BY product_id, minute"
        )
        cursor.execute("DROP TABLE product_minutes_unclustered")
        cursor.execute("COMMIT")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise


def _create_tallies(cursor: duckdb.DuckDBPyConnection, name: str) -> None:
    """Create a tally table; in a file whose events were stored without it, count them."""
    found = cursor.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main'",
        [name],
    ).fetchone()
    cursor.execute(_tally_table(name))
    if not (found and found[0]):
        cursor.execute(tally_sql(name, "events"))


class Database:
    """The events database file and its payload files, with a pool of query threads that each
    hold a cursor.

    Work runs in a `session`; `exclusive` waits for running sessions and holds new ones back.
    It serves `checkpoint`: DuckDB (2.0) reads rows that were appended since the last checkpoint
    slower than checkpointed ones (over 2 M events with 100,000 appended in 500-event passes, a
    customer page took 4.0 against 1.8 ms of CPU, an offset page 6.7 against 5.0), so after a
    large ingest the ingester checkpoints between queries. It also serves deleting payload
    files, which no running query may be reading.
    """

    def __init__(self, path: Path, query_threads: int = 4) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.payloads = Payloads(path.with_suffix(".payloads"))
        self.connection = self._open()
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._gate = threading.Condition()
        self._sessions = 0
        self._exclusive = False
        self._generation = 0  # of the cursors: those of an older one are closed
        self.executor = ThreadPoolExecutor(query_threads, thread_name_prefix="duckdb-query")

    def _open(self) -> duckdb.DuckDBPyConnection:
        # One DuckDB thread per query: a page is small work and the pool runs several queries
        # at once, so DuckDB's own parallelism only added coordination (measured over HTTP on
        # 2 cores: 3.6 ms of server CPU per session lookup with one thread, 5.5 ms with two).
        # A backlog is ingested with every core (`all_cores`). Integers are bit-packed as
        # frame-of-reference, not deltas: a lookup fetches single rows, and a delta-packed row
        # is decoded from its group's start (a customer's 661 rows took 4.9 ms against 2.6).
        config: dict[str, str | bool | int | float | list[str]] = {
            "threads": 1,
            "force_bitpacking_mode": "for",
        }
        connection = duckdb.connect(str(self.path), config=config)
        if _older_format(connection) or self.payloads.older_format():
            log.warning("%s is from an older version: rebuilt from the sink's files", self.path)
            connection.close()
            for stale in (self.path, self.path.with_name(self.path.name + ".wal")):
                stale.unlink(missing_ok=True)
            shutil.rmtree(self.payloads.folder, ignore_errors=True)
            self.payloads = Payloads(self.payloads.folder)
            connection = duckdb.connect(str(self.path), config=config)
        with connection.cursor() as cursor:
            cursor.execute("BEGIN TRANSACTION")
            for statement in _schema():
                cursor.execute(statement)
            for name in TALLIES:
                _create_tallies(cursor, name)
            cursor.execute("COMMIT")
        return connection

    @contextlib.contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """This thread's own cursor, for the length of the block (blocking: call in a thread)."""
        with self._gate:
            self._gate.wait_for(lambda: not self._exclusive)
            self._sessions += 1
        try:
            yield self._cursor()
        finally:
            with self._gate:
                self._sessions -= 1
                self._gate.notify_all()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        held = getattr(self._local, "held", None)
        if held is None or held[0] != self._generation:
            cursor = self.connection.cursor()
            self._local.held = (self._generation, cursor)
            with self._gate:
                self._cursors.append(cursor)
            return cursor
        return cast(duckdb.DuckDBPyConnection, held[1])

    @contextlib.contextmanager
    def all_cores(self, cursor: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """DuckDB threads on every core for the block (the setting is the database's, so queries
        running meanwhile use them too): reading whole segments, 2 million events went in
        12-14 s instead of 16-17 s with one thread on 2 cores."""
        cursor.execute(f"SET threads = {os.cpu_count() or 1}")
        try:
            yield
        finally:
            cursor.execute("SET threads = 1")

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """No session runs during the block: running ones end first, new ones wait (blocking)."""
        with self._gate:
            self._exclusive = True
            self._gate.wait_for(lambda: self._sessions == 0)
            try:
                yield
            finally:
                self._exclusive = False
                self._gate.notify_all()

    def checkpoint(self) -> None:
        """Cluster the product tallies and checkpoint the file, while no session runs. Closing
        and opening the file instead did the same for the appended rows, but held queries back
        about eight times as long (1.1 against 0.14 s over 2 M events) and left DuckDB's buffers
        empty behind it.

        A result not read to its end keeps its statement's transaction open, and a checkpoint
        fails while one is (FORCE CHECKPOINT waits for it forever), so the sessions' cursors are
        closed first; each thread opens a new one on its next session."""
        with self.exclusive():
            self._close_cursors()
            self._generation += 1
            with self.connection.cursor() as cursor:
                _cluster_by_product(cursor)
                cursor.execute("CHECKPOINT")

    def _close_cursors(self) -> None:
        for cursor in self._cursors:
            cursor.close()
        self._cursors.clear()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        with self._gate:
            self._close_cursors()
            self.connection.close()
