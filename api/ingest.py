"""Background ingestion of the sink's segments into the API's DuckDB file, incrementally.

For each segment identity (log, partition, first offset) the database remembers how many bytes
it has ingested, in the same transaction as the rows, so a crash never ingests a batch twice.
A pass reads only the whole gzip members past that point: an open segment is picked up batch by
batch as it grows, and its rename to the closed name changes nothing (same identity, same
bytes). Rows of segments that disappear are deleted, and their payload files once no query
runs. Closed segments never seen before are handed to DuckDB's own gzip JSON reader whole, which
is the fast path for a large backlog, and those of one pass go into the events table together,
in time order. Each batch's events, checked and rebuilt as JSON, are
appended to the segment's payload file (`api.payloads`) before the rows that point into it
commit.

A pass blocks (file I/O, decompression, DuckDB); `run_forever` runs each pass in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from cartsim.api.database import EVENT_COLUMNS, INDEXED_FIELDS, TALLIES, Database, tally_sql
from cartsim.api.payloads import BLOCK_LINES
from cartsim.events import EVENT_FIELDS
from cartsim.storage import Layout, Segment, whole_members

log = logging.getLogger(__name__)

Identity = tuple[str, int, int]  # log, partition, first offset

_INSERT_LINES = 200_000  # lines handed to DuckDB in one transaction
_BACKLOG_BYTES = 1 << 30  # of closed new segments' files ingested in one sorted transaction
_KEPT = ", ".join(f'"{n}"' for n in INDEXED_FIELDS)


def _json_type(kind: str) -> str:
    """Type DuckDB's JSON reader parses a column as; enums are read as text and cast after."""
    return kind if kind in ("BIGINT", "BOOLEAN") else "VARCHAR"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _rows_sql(path: Path, compressed: bool) -> str:
    """Rows of `events` (the segment id is the parameter) from a JSON-lines file; unknown keys
    are ignored, missing ones are null, and lines that do not fit `CartEvent` (a missing required
    field, an unknown enum value, a timestamp that is no instant) are left out, so every stored
    event is a valid response item. The stored JSON is rebuilt from the checked fields, in
    `CartEvent` order."""
    fields = EVENT_COLUMNS.items()
    columns = ", ".join(f"{_quoted(n)}: {_quoted(_json_type(k))}" for n, k in fields)
    enums = {n: k for n, k in fields if _json_type(k) != k}
    checked = ", ".join(
        f'TRY_CAST("{n}" AS "{enums[n]}") AS "{n}"' if n in enums else f'"{n}"'
        for n in EVENT_COLUMNS
    )
    # text that must cast: an enumerated field to its ENUM, a timestamp to an instant
    casts = {n: f'"{k}"' for n, k in enums.items()}
    casts |= {f.name: "TIMESTAMPTZ" for f in EVENT_FIELDS if f.type is datetime}
    checks = [f'"{f.name}" IS NOT NULL' for f in EVENT_FIELDS if not f.nullable]
    checks += [f'("{n}" IS NULL OR TRY_CAST("{n}" AS {t}) IS NOT NULL)' for n, t in casts.items()]
    checks += [
        f'coalesce("{f.name}", {f.minimum}) >= {f.minimum}'
        for f in EVENT_FIELDS
        if f.minimum is not None
    ]
    source = (
        f"read_json({_quoted(str(path))}, format = 'newline_delimited', columns = {{{columns}}}, "
        f"ignore_errors = true{', compression = ' + _quoted('gzip') if compressed else ''})"
    )
    packed = ", ".join(f'"{n}" := "{n}"' for n in EVENT_COLUMNS)
    return (
        f"SELECT ?::INTEGER AS segment_id, {_KEPT}, "
        f"to_json(struct_pack({packed}))::VARCHAR AS event "
        f"FROM (SELECT {checked} FROM {source} WHERE {' AND '.join(checks)})"
    )


def _backlog(
    present: dict[Identity, Segment], known: dict[Identity, _Progress]
) -> list[list[tuple[Identity, Segment]]]:
    """The closed segments none of whose bytes are stored yet, in groups of at most about
    `_BACKLOG_BYTES`, each group a band of time: partitions' segments taken by first offset."""
    new = [
        (identity, segment)
        for identity, segment in present.items()
        if not segment.is_open and (identity not in known or known[identity].ingested_bytes == 0)
    ]
    new.sort(key=lambda item: (item[0][2], item[0][0], item[0][1]))
    groups: list[list[tuple[Identity, Segment]]] = []
    size = _BACKLOG_BYTES
    for item in new:
        try:
            length = item[1].path.stat().st_size
        except FileNotFoundError:
            continue
        if size + length > _BACKLOG_BYTES and (not groups or groups[-1]):
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += length
    return groups


@dataclass
class IngestStatus:
    """What the last pass did, for /health."""

    last_run_at: datetime | None = None
    last_duration_ms: float = 0.0
    pending_bytes: int = 0
    segments: int = 0
    rows: int = 0
    error: str | None = None
    #: seconds from a segment's last write to its events being queryable, the largest over the
    #: segments of the last pass that found new events (None until one has)
    lag_s: float | None = None


@dataclass
class _Progress:
    segment_id: int
    ingested_bytes: int  # of the segment's file
    payload_bytes: int  # of its payload file


class Ingester:
    """Keeps the events table equal to the whole gzip members of the segments on disk."""

    def __init__(
        self,
        database: Database,
        layout: Layout,
        checkpoint_after_rows: int = 100_000,
        checkpoint_every_s: float = 10.0,
    ) -> None:
        """The database is checkpointed (see `Database`) once `checkpoint_after_rows` rows were
        appended since the last checkpoint, at most every `checkpoint_every_s` seconds."""
        self.database = database
        self.layout = layout
        self.checkpoint_after_rows = checkpoint_after_rows
        self.checkpoint_every_s = checkpoint_every_s
        self.status = IngestStatus()
        self.scratch = layout.api_dir / "ingest.jsonl"  # new lines of an open segment
        self.lines = layout.api_dir / "payload.jsonl"  # a batch's JSON, for its payload file
        # each line exactly as stored: no header, no quoting or escaping (JSON has no newline)
        self._lines_to = f"{_quoted(str(self.lines))} (FORMAT csv, HEADER false, QUOTE '', "
        self._lines_to += "ESCAPE '', DELIMITER '\x1f')"
        self._unreferenced: list[int] = []  # segment ids whose payload files are to be deleted
        self._known: dict[Identity, _Progress] | None = None
        self._lock = threading.Lock()
        self._appended = 0  # rows inserted since the last checkpoint
        self._checkpointed_at = time.monotonic()

    def run_once(self) -> IngestStatus:
        """One pass over the segment files (blocking); concurrent calls take turns."""
        with self._lock:
            with self.database.session() as cursor:
                status = self._pass(cursor)
            if self._unreferenced:
                with self.database.exclusive():
                    self.database.payloads.delete(self._unreferenced)
                self._unreferenced.clear()
            waited = time.monotonic() - self._checkpointed_at
            if self._appended >= self.checkpoint_after_rows and waited >= self.checkpoint_every_s:
                self.database.checkpoint()
                self._appended = 0
                self._checkpointed_at = time.monotonic()
            return status

    def wait_idle(self) -> None:
        """Block until a pass in flight (in its thread) has finished."""
        with self._lock:
            pass

    def _pass(self, cursor: duckdb.DuckDBPyConnection) -> IngestStatus:
        started = time.perf_counter()
        known = self._load(cursor)
        pending = 0
        present = {s.sort_key(): s for s in self.layout.segments()}
        lag: float | None = None
        before = {
            identity: known[identity].ingested_bytes for identity in present if identity in known
        }
        for group in _backlog(present, known):
            self._ingest_backlog(cursor, known, group)
        for identity, segment in present.items():
            done = before.get(identity, 0)
            try:
                stat = segment.path.stat()
                pending += self._ingest(cursor, known, identity, segment, stat.st_size)
            except FileNotFoundError:
                continue  # renamed from open to closed (or deleted) meanwhile: next pass
            if known[identity].ingested_bytes > done:  # its new events are queryable now
                lag = max(lag or 0.0, time.time() - stat.st_mtime)
        gone = set(known) - set(present)
        if gone:  # list again: a rename during the first listing may have hidden a segment
            gone -= {s.sort_key() for s in self.layout.segments()}
        for identity in gone:
            self._forget(cursor, known, identity)
        rows = cursor.execute("SELECT count(*) FROM events").fetchone()
        self.status = IngestStatus(
            last_run_at=datetime.now(UTC),
            last_duration_ms=(time.perf_counter() - started) * 1000,
            pending_bytes=pending,
            segments=len(known),
            rows=rows[0] if rows else 0,
            lag_s=self.status.lag_s if lag is None else lag,
        )
        return self.status

    async def run_forever(self, interval_s: float) -> None:
        """Pass after pass, each in a thread, `interval_s` apart; errors are kept, not raised."""
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except (duckdb.Error, OSError) as exc:
                log.exception("ingest pass failed")
                self.status.error = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(interval_s)

    def _load(self, cursor: duckdb.DuckDBPyConnection) -> dict[Identity, _Progress]:
        if self._known is None:
            rows = cursor.execute(
                "SELECT log, partition, first_offset, segment_id, ingested_bytes, payload_bytes "
                "FROM segments"
            ).fetchall()
            self._known = {(r[0], r[1], r[2]): _Progress(r[3], r[4], r[5]) for r in rows}
            self.database.payloads.keep_only({p.segment_id for p in self._known.values()})
        return self._known

    def _ingest(
        self,
        cursor: duckdb.DuckDBPyConnection,
        known: dict[Identity, _Progress],
        identity: Identity,
        segment: Segment,
        size: int,
    ) -> int:
        """Ingest what `segment` has beyond what is stored; returns the bytes still left."""
        progress = known.get(identity)
        if progress is not None and size < progress.ingested_bytes:
            self._forget(cursor, known, identity)  # a different file under the same identity
            progress = None
        if progress is None:
            progress = known[identity] = self._register(cursor, identity)
        if size == progress.ingested_bytes:
            return 0
        for lines, end in whole_members(segment.path, progress.ingested_bytes, _INSERT_LINES):
            self.scratch.write_bytes(b"\n".join(lines) + b"\n")
            self._commit(cursor, progress, _rows_sql(self.scratch, compressed=False), end)
        return size - progress.ingested_bytes

    def _ingest_backlog(
        self,
        cursor: duckdb.DuckDBPyConnection,
        known: dict[Identity, _Progress],
        group: list[tuple[Identity, Segment]],
    ) -> None:
        """Closed segments never seen before, in one transaction whose rows go into `events` in
        time order. Each partition's segments cover the whole span of a backlog, so rows stored
        segment by segment put every minute in several row groups, and a page of a minute scanned
        them all (over 1 M events, 6 of 10 row groups against 1 in time order)."""
        progress: dict[Identity, _Progress] = {}
        for identity, _ in group:
            if identity not in known:
                known[identity] = self._register(cursor, identity)
            progress[identity] = known[identity]
        ends: dict[Identity, int] = {}
        cursor.execute("BEGIN TRANSACTION")
        try:
            cursor.execute("CREATE OR REPLACE TEMP TABLE staged AS FROM events LIMIT 0")
            with self.database.all_cores(cursor):
                for identity, segment in group:
                    ends[identity] = segment.path.stat().st_size
                    rows = _rows_sql(segment.path, compressed=True)
                    self._add(cursor, progress[identity], rows, ends[identity], "staged")
                cursor.execute("INSERT INTO events FROM staged ORDER BY timestamp_unix, rowid")
            cursor.execute("DROP TABLE staged")
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            for identity in progress:
                progress[identity].payload_bytes = 0  # the files are made anew next time
            raise
        for identity, end in ends.items():
            progress[identity].ingested_bytes = end

    def _commit(
        self, cursor: duckdb.DuckDBPyConnection, progress: _Progress, rows: str, end: int
    ) -> None:
        """Insert rows, add them to the tallies and advance the segment's byte counts, in one
        transaction."""
        cursor.execute("BEGIN TRANSACTION")
        try:
            self._add(cursor, progress, rows, end, "events")
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        progress.ingested_bytes = end

    def _add(
        self,
        cursor: duckdb.DuckDBPyConnection,
        progress: _Progress,
        rows: str,
        end: int,
        table: str,
    ) -> None:
        """Insert rows into `table` (`events`, or a staging table of its columns), add them to
        the tallies and advance the segment's byte counts, in the caller's transaction; the rows
        are staged in a temporary table so they are read only once. Their JSON goes to the
        segment's payload file first, compressed in blocks here and durably, so a committed
        row's position always holds its event."""
        cursor.execute(f"CREATE OR REPLACE TEMP TABLE batch AS {rows}", [progress.segment_id])
        cursor.execute(f"COPY (SELECT event FROM batch ORDER BY rowid) TO {self._lines_to}")
        appended = self.database.payloads.append(
            progress.segment_id, progress.payload_bytes, self.lines
        )
        self.lines.unlink()
        # each row's position: its block's offset * BLOCK_LINES + its index in the block
        inserted = cursor.execute(
            f"INSERT INTO {table} SELECT segment_id, {_KEPT}, "
            f"blocks[n // {BLOCK_LINES} + 1] * {BLOCK_LINES} + n % {BLOCK_LINES} "
            "FROM (SELECT *, row_number() OVER (ORDER BY rowid) - 1 AS n FROM batch), "
            "(SELECT ?::BIGINT[] AS blocks) ORDER BY n",
            [appended.blocks],
        ).fetchone()
        count = inserted[0] if inserted else 0
        if count != appended.lines:
            raise OSError(
                f"payload file of segment {progress.segment_id} got {appended.lines} "
                f"events, expected {count}"
            )
        self._appended += count
        for name in TALLIES:
            cursor.execute(tally_sql(name, "batch"))
        cursor.execute("DROP TABLE batch")
        cursor.execute(
            "UPDATE segments SET ingested_bytes = ?, ingested_rows = ingested_rows + ?, "
            "payload_bytes = ? WHERE segment_id = ?",
            [end, count, appended.size, progress.segment_id],
        )
        progress.payload_bytes = appended.size

    def _register(self, cursor: duckdb.DuckDBPyConnection, identity: Identity) -> _Progress:
        row = cursor.execute(
            "INSERT INTO segments VALUES (nextval('segment_ids'), ?, ?, ?, 0, 0, 0) "
            "RETURNING segment_id",
            list(identity),
        ).fetchone()
        assert row is not None
        return _Progress(row[0], 0, 0)

    def _forget(
        self,
        cursor: duckdb.DuckDBPyConnection,
        known: dict[Identity, _Progress],
        identity: Identity,
    ) -> None:
        """Delete the rows of a segment that is gone (or was replaced)."""
        progress = known.pop(identity)
        gone = "(SELECT * FROM events WHERE segment_id = ?)"
        cursor.execute("BEGIN TRANSACTION")
        for name in TALLIES:
            cursor.execute(tally_sql(name, gone, sign="-"), [progress.segment_id])
            cursor.execute(f"DELETE FROM {name} WHERE events = 0")
        cursor.execute("DELETE FROM events WHERE segment_id = ?", [progress.segment_id])
        cursor.execute("DELETE FROM segments WHERE segment_id = ?", [progress.segment_id])
        cursor.execute("COMMIT")
        self._unreferenced.append(progress.segment_id)  # its file goes once no query runs
