"""The database file: tallies counted when a file from before them is opened, and reopening
between sessions."""

from __future__ import annotations

import threading
from pathlib import Path

from api.database import TALLIES, Database
from api.ingest import Ingester
from cartsim.storage import Layout
from tests.api.conftest import assert_tallies_recount, sink_events


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


def test_a_reopen_waits_for_running_sessions_and_new_ones_wait_for_it(tmp_path: Path) -> None:
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
    reopening = threading.Thread(target=database.reopen)
    reopening.start()
    reopening.join(0.3)
    assert reopening.is_alive()  # the held session keeps the file open
    release.set()
    reopening.join(10)
    holder.join(10)
    try:
        assert not reopening.is_alive()
        with database.session() as cursor:  # a fresh cursor of the new connection
            assert cursor.execute("SELECT count(*) FROM events").fetchone() == (50,)
    finally:
        database.close()
