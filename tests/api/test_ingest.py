"""The ingester against segments the real sink writes, grows, renames, repairs and deletes."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from cartsim.api.database import Database
from cartsim.api.ingest import Ingester
from cartsim.api.payloads import SUFFIX
from cartsim.events import EVENT_FIELDS, CartEvent
from cartsim.storage import Layout
from cartsim.stream_processors.sink import SegmentSink
from tests.api.conftest import assert_tallies_recount, simulated_events


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path).ensure()


@pytest.fixture
def database(layout: Layout) -> Iterator[Database]:
    database = Database(layout.events_database)
    yield database
    database.close()


@pytest.fixture
def generated(layout: Layout) -> list[dict[str, Any]]:
    return simulated_events(layout.root, 400, seed=5)


def stored_events(database: Database) -> list[dict[str, Any]]:
    with database.session() as cursor:
        rows = cursor.execute("SELECT segment_id, payload FROM events ORDER BY rowid").fetchall()
    return [orjson.loads(event) for event in database.payloads.read(rows)]


def stored_ids(database: Database) -> list[str]:
    return [event["event_id"] for event in stored_events(database)]


def records(batch: list[dict[str, Any]], first: int) -> list[tuple[int, int, bytes]]:
    return [(0, first + index, orjson.dumps(event)) for index, event in enumerate(batch)]


def test_an_open_segment_is_followed_as_it_grows_and_across_its_rename(
    layout: Layout, database: Database, generated: list[dict[str, Any]]
) -> None:
    sink = SegmentSink(layout, "feedf00d", max_bytes=1 << 30, max_age_s=3600)
    ingester = Ingester(database, layout)
    sink.write(records(generated[:100], 0))
    assert ingester.run_once().rows == 100
    sink.write(records(generated[100:250], 100))
    (segment,) = layout.segments()
    assert segment.is_open
    with segment.path.open("ab") as file:  # a batch the sink is still writing: torn
        member = zlib.compressobj(6, zlib.DEFLATED, 31)
        file.write((member.compress(orjson.dumps(generated[250])) + member.flush())[:-9])
    status = ingester.run_once()
    assert status.rows == 250 and status.pending_bytes > 0
    sink.close()  # the sink repairs nothing here; it renames the segment to its closed name
    with pytest.raises(FileNotFoundError):
        segment.path.stat()
    assert ingester.run_once().rows == 250
    assert sorted(stored_ids(database)) == sorted(e["event_id"] for e in generated[:250])
    assert_tallies_recount(database)


def test_deleted_segments_lose_their_rows_and_restarts_ingest_nothing_twice(
    layout: Layout, database: Database, generated: list[dict[str, Any]]
) -> None:
    sink = SegmentSink(layout, "feedf00d", max_bytes=1 << 30, max_age_s=3600)
    sink.write([(p, o, v) for p in (0, 1) for _, o, v in records(generated[p::2], 0)])
    sink.close()
    assert Ingester(database, layout).run_once().rows == 400
    assert Ingester(database, layout).run_once().rows == 400  # a restart reads its progress
    assert len(payload_files(database)) == 2
    doomed = next(s for s in layout.segments() if s.partition == 1)
    doomed.path.unlink()
    assert Ingester(database, layout).run_once().rows == 200
    assert sorted(stored_ids(database)) == sorted(e["event_id"] for e in generated[0::2])
    assert_tallies_recount(database)
    assert len(payload_files(database)) == 1  # the gone segment's events went with it


def test_a_backlog_of_closed_segments_is_stored_in_time_order(
    layout: Layout, database: Database, generated: list[dict[str, Any]]
) -> None:
    sink = SegmentSink(layout, "feedf00d", max_bytes=1 << 30, max_age_s=3600)
    sink.write([(p, o, v) for p in (0, 1, 2) for _, o, v in records(generated[p::3], 0)])
    sink.close()
    assert Ingester(database, layout).run_once().rows == 400
    times = [event["timestamp_unix"] for event in stored_events(database)]
    assert times == sorted(times)  # each partition spans the whole time: interleaved
    # ties in time keep the order of the segments, then of their lines
    at = sorted(range(len(generated)), key=lambda i: (generated[i]["timestamp_unix"], i % 3, i))
    assert stored_ids(database) == [generated[i]["event_id"] for i in at]
    assert_tallies_recount(database)


def payload_files(database: Database) -> list[Path]:
    return sorted(database.payloads.folder.glob(f"*{SUFFIX}"))


def test_payload_bytes_a_crash_left_uncommitted_are_cut_off(
    layout: Layout, database: Database, generated: list[dict[str, Any]]
) -> None:
    sink = SegmentSink(layout, "feedf00d", max_bytes=1 << 30, max_age_s=3600)
    sink.write(records(generated[:100], 0))
    Ingester(database, layout).run_once()
    (payloads,) = payload_files(database)
    committed = payloads.stat().st_size
    with payloads.open("ab") as file:  # written, then the process died before its commit
        file.write(b'{"event_id": "never committed"}\n' * 3)
    sink.write(records(generated[100:200], 100))
    sink.close()
    assert Ingester(database, layout).run_once().rows == 200  # a restart
    assert stored_ids(database) == [e["event_id"] for e in generated[:200]]
    with database.session() as cursor:
        recorded = cursor.execute("SELECT payload_bytes FROM segments").fetchall()
    assert recorded == [(payloads.stat().st_size,)] and recorded[0][0] > committed


def test_unknown_keys_are_ignored_missing_optional_ones_are_null_and_bad_lines_left_out(
    layout: Layout, database: Database, generated: list[dict[str, Any]]
) -> None:
    good, extra, minimal, bad_type = (dict(event) for event in generated[:4])
    extra["loyalty_tier"] = "gold"
    for key in ("category", "brand", "search_query", "city", "order_id", "payment_method"):
        minimal.pop(key, None)
    bad_type["event_type"] = "teleport"
    lines = [orjson.dumps(e) for e in (good, extra, minimal, bad_type)] + [b'{"event_id": "x"']
    sink = SegmentSink(layout, "feedf00d", max_bytes=1 << 30, max_age_s=3600)
    sink.write((0, offset, line) for offset, line in enumerate(lines))
    sink.close()
    Ingester(database, layout).run_once()
    assert sorted(stored_ids(database)) == sorted(e["event_id"] for e in (good, extra, minimal))
    by_id = {event["event_id"]: event for event in stored_events(database)}
    assert by_id[minimal["event_id"]]["city"] is None
    assert "loyalty_tier" not in by_id[extra["event_id"]]
    assert by_id[good["event_id"]] == good and list(by_id[good["event_id"]]) == list(good)


def test_the_ingester_keeps_out_exactly_what_the_model_rejects(
    layout: Layout, database: Database, generated: list[dict[str, Any]]
) -> None:
    """For each field: null, one below its minimum, an unknown choice, text that is no instant;
    the model decides which of these lines are events, and the ingester must agree."""
    cart = next(e for e in generated if e["event_type"] == "add_to_cart")
    full = {**cart, "search_query": "laptop", "order_id": "ORD-1", "payment_method": "momo"}
    variants: list[dict[str, Any]] = []
    for field in EVENT_FIELDS:
        variants.append({**full, field.name: None})
        if field.minimum is not None:
            variants += [
                {**full, field.name: field.minimum},
                {**full, field.name: field.minimum - 1},
            ]
        if field.choices:
            variants.append({**full, field.name: "teleport"})
        if field.type is datetime:
            variants.append({**full, field.name: "yesterday"})
    for number, variant in enumerate(variants):
        variant["event_id"] = variant["event_id"] and f"evt_{number:04d}"

    def valid(event: dict[str, Any]) -> bool:
        try:
            CartEvent.model_validate(event)
        except ValidationError:
            return False
        return True

    expected = sorted(v["event_id"] for v in variants if valid(v))
    assert 0 < len(expected) < len(variants)
    sink = SegmentSink(layout, "feedf00d", max_bytes=1 << 30, max_age_s=3600)
    sink.write(records(variants, 0))
    sink.close()
    Ingester(database, layout).run_once()
    assert sorted(stored_ids(database)) == expected


def test_checkpoints_after_large_ingests_lose_and_repeat_nothing(
    layout: Layout,
    database: Database,
    generated: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checkpointed: list[bool] = []
    checkpoint = database.checkpoint
    monkeypatch.setattr(database, "checkpoint", lambda: checkpointed.append(True) or checkpoint())
    sink = SegmentSink(layout, "feedf00d", max_bytes=1 << 30, max_age_s=3600)
    ingester = Ingester(database, layout, checkpoint_after_rows=1, checkpoint_every_s=0.0)
    for first in range(0, 400, 100):
        sink.write(records(generated[first : first + 100], first))
        assert ingester.run_once().rows == first + 100
    sink.close()
    assert ingester.run_once().rows == 400
    assert len(checkpointed) == 4  # after each pass that appended rows
    assert sorted(stored_ids(database)) == sorted(e["event_id"] for e in generated)
    assert_tallies_recount(database)
