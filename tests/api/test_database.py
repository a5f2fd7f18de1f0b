"""The database file: tallies counted when a file without them is opened, and checkpointing
between sessions."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import duckdb
import orjson

from cartsim.api.database import TALLIES, Database
from cartsim.api.ingest import Ingester
from cartsim.api.payloads import BLOCK_LINES, Payloads
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


def test_a_store_of_uncompressed_payload_files_is_rebuilt_from_the_files(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    generated = sink_events(tmp_path, count=120)
    database = Database(layout.events_database)
    Ingester(database, layout).run_once()
    database.close()
    folder = layout.events_database.with_suffix(".payloads")
    for path in folder.glob("*.zst"):  # as stored before: plain JSON lines, read by byte offset
        path.unlink()
        path.with_suffix(".jsonl").write_bytes(b'{"event_id": "old"}\n')
    database = Database(layout.events_database)
    try:
        assert not list(folder.glob("*.jsonl"))
        assert Ingester(database, layout).run_once().rows == 120
        with database.session() as cursor:
            rows = cursor.execute("SELECT segment_id, payload FROM events").fetchall()
        stored = {orjson.loads(event)["event_id"] for event in database.payloads.read(rows)}
        assert stored == {event["event_id"] for event in generated}
        assert_tallies_recount(database)
    finally:
        database.close()


def test_an_event_longer_than_one_read_comes_whole(tmp_path: Path) -> None:
    """Lines of random text compress to frames longer than one read of a block."""
    payloads = Payloads(tmp_path / "payloads")
    rng = random.Random(4)
    sizes = (10, 5000, 20_000, 2041, 3, *[rng.randrange(1, 3000) for _ in range(40)])
    lines = [b'{"a": "' + rng.randbytes(size // 2).hex().encode() + b'"}' for size in sizes]
    staged = tmp_path / "lines.jsonl"
    staged.write_bytes(b"".join(line + b"\n" for line in lines[:2]))
    first = payloads.append(7, 0, staged)
    assert first.lines == 2 and first.blocks == [first.blocks[0]]
    staged.write_bytes(b"".join(line + b"\n" for line in lines[2:]))
    second = payloads.append(7, first.size, staged)
    assert second.lines == len(lines) - 2 and second.blocks[0] == first.size
    assert second.size == payloads.path(7).stat().st_size
    refs = [(7, first.blocks[0] * BLOCK_LINES + n) for n in range(2)]
    refs += [
        (7, second.blocks[n // BLOCK_LINES] * BLOCK_LINES + n % BLOCK_LINES) for n in range(43)
    ]
    assert payloads.read(refs[::-1]) == lines[::-1]


def test_a_page_comes_back_byte_identical_to_what_was_ingested(tmp_path: Path) -> None:
    """Events of two segments, appended in batches of every size against the blocks (a few
    lines: no dictionary of their own), read back as pages in any order."""
    events = [orjson.dumps(event) for event in simulated_events(tmp_path, 3000, seed=8)]
    payloads = Payloads(tmp_path / "payloads")
    staged = tmp_path / "lines.jsonl"
    refs: list[tuple[int, int]] = []
    sizes = {1: 0, 2: 0}
    rng = random.Random(3)
    start = 0
    for segment_id, count in [(1, 5), (1, 1200), (2, 7), (1, 17), (2, 16), (2, 900), (1, 855)]:
        batch = events[start : start + count]
        start += count
        staged.write_bytes(b"".join(line + b"\n" for line in batch))
        appended = payloads.append(segment_id, sizes[segment_id], staged)
        sizes[segment_id] = appended.size
        refs += [
            (segment_id, appended.blocks[n // BLOCK_LINES] * BLOCK_LINES + n % BLOCK_LINES)
            for n in range(appended.lines)
        ]
    assert start == len(events) == len(refs)
    for _ in range(20):
        page = rng.sample(range(len(events)), 100)
        assert payloads.read([refs[n] for n in page]) == [events[n] for n in page]
    assert payloads.read(refs) == events
    reopened = Payloads(tmp_path / "payloads")  # dictionaries read back from the headers
    assert reopened.read(refs[::-1]) == events[::-1]
    assert sum(sizes.values()) < sum(len(line) + 1 for line in events) / 4


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
