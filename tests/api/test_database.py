"""The database file: tallies counted when a file without them is opened, and checkpointing
between sessions."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import orjson

from cartsim.api.database import TALLIES, Database
from cartsim.api.ingest import Ingester
from cartsim.api.payloads import Payloads
from cartsim.storage import Layout
from cartsim.stream_processors.sink import SegmentSink
from tests.api.conftest import assert_tallies_recount, simulated_events, sink_events


def test_a_database_without_tallies_has_them_counted_when_opened(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    sink_events(tmp_path, count=200)
    database = Database(layout.events_database)
    Ingester(database, layout).run_once()
    with database.session() as cursor:
        for table in TALLIES:
            cursor.execute(f"DROP TABLE {table}")
    database.close()
    reopened = Database(layout.events_database)
    try:
        assert_tallies_recount(reopened)
        with reopened.session() as cursor:
            tallied = cursor.execute("SELECT sum(events) FROM minute_tallies").fetchone()
        assert tallied == (200,)
    finally:
        reopened.close()


def test_a_checkpoint_waits_for_running_sessions_and_new_ones_wait_for_it(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    sink_events(tmp_path, count=50)
    database = Database(layout.events_database)
    Ingester(database, layout).run_once()
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with database.session() as cursor:
            holding.set()
            release.wait(10)
            assert cursor.execute("SELECT count(*) FROM events").fetchone() == (50,)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(10)
    checkpointing = threading.Thread(target=database.checkpoint)
    checkpointing.start()
    checkpointing.join(0.3)
    assert checkpointing.is_alive()  # the held session holds it back
    release.set()
    checkpointing.join(10)
    holder.join(10)
    try:
        assert not checkpointing.is_alive()
        with database.session() as cursor:
            assert cursor.execute("SELECT count(*) FROM events").fetchone() == (50,)
    finally:
        database.close()


def test_a_database_of_an_older_format_is_rebuilt_from_the_files(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    sink_events(tmp_path, count=120)
    layout.api_dir.mkdir(parents=True)
    older = duckdb.connect(str(layout.events_database))  # each event's JSON in a column
    older.execute("CREATE TABLE events (segment_id INTEGER, event VARCHAR)")
    older.execute("INSERT INTO events VALUES (1, '{}')")
    older.close()
    database = Database(layout.events_database)
    try:
        assert Ingester(database, layout).run_once().rows == 120
        assert_tallies_recount(database)
    finally:
        database.close()


def test_an_event_longer_than_one_read_comes_whole(tmp_path: Path) -> None:
    payloads = Payloads(tmp_path / "payloads")
    lines = [b'{"a": "' + b"x" * size + b'"}' for size in (10, 5000, 2041, 2042, 3)]
    staged = tmp_path / "lines.jsonl"
    staged.write_bytes(b"\n".join(lines[:2]) + b"\n")
    assert payloads.append(7, 0, staged) == sum(len(line) + 1 for line in lines[:2])
    staged.write_bytes(b"\n".join(lines[2:]) + b"\n")
    end = payloads.append(7, len(lines[0]) + len(lines[1]) + 2, staged)
    starts = [sum(len(line) + 1 for line in lines[:n]) for n in range(len(lines))]
    assert end == starts[-1] + len(lines[-1]) + 1
    assert payloads.read([(7, start) for start in reversed(starts)]) == lines[::-1]


def test_a_checkpoint_clusters_the_product_tallies_and_they_stay_exact(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    sink_events(tmp_path, count=300)
    database = Database(layout.events_database)
    try:
        ingester = Ingester(database, layout)
        ingester.run_once()
        with database.session() as cursor:
            arrived = [
                r[0] for r in cursor.execute("SELECT product_id FROM product_minutes").fetchall()
            ]
        assert arrived != sorted(arrived)  # rows came in time order
        database.checkpoint()
        with database.session() as cursor:
            clustered = [
                r[0] for r in cursor.execute("SELECT product_id FROM product_minutes").fetchall()
            ]
        assert clustered == sorted(arrived)
        assert_tallies_recount(database)
        later = simulated_events(layout.root, 100, seed=4)
        sink = SegmentSink(layout, "feedf00e", max_bytes=1 << 20, max_age_s=3600)
        sink.write((0, offset, orjson.dumps(event)) for offset, event in enumerate(later))
        sink.close()
        ingester.run_once()  # upserts into the clustered table (same minutes, same products)
        assert_tallies_recount(database)
    finally:
        database.close()
