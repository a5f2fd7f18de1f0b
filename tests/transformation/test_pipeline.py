"""Incremental reruns and crash safety of a transformation run (DuckDB engine)."""

from __future__ import annotations

import os
from itertools import islice
from pathlib import Path

import orjson
import pytest

from cartsim.analytics import TABLES
from cartsim.producer.catalog import build_catalog
from cartsim.producer.journeys import backfill
from cartsim.storage import Layout
from cartsim.transformation import commit
from tests.recount import recount
from tests.tables import file_partitions
from tests.transformation.conftest import END, START, duckdb_engine, table_rows, transform


def files_of(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def scratch(stored: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tables of every stored segment, transformed in one run."""
    out = tmp_path_factory.mktemp("scratch")
    transform(duckdb_engine(out.parent / f"{out.name}-work"), out, stored)
    return out


def test_an_incremental_rerun_gives_the_files_of_one_run(
    stored: Path, scratch: Path, tmp_path: Path
) -> None:
    segments = Layout(stored).closed_segments()
    first = [s.path for s in segments if s.first_offset == 0]
    out = tmp_path / "out"
    before = transform(duckdb_engine(tmp_path / "w1"), out, *first)
    after = transform(duckdb_engine(tmp_path / "w2"), out, stored)
    assert (before.inputs, after.inputs, after.already) == (3, 3, 3)
    assert 0 < after.new_events < after.new_events + before.new_events
    assert files_of(out) == files_of(scratch)


# os.replace calls: 1 claims OUT with a manifest, 2 puts the events journal in place, 3.. move
# partitions; the sessions commit follows the events'.
@pytest.mark.parametrize("crash_at", [2, 4, 9])
def test_a_crash_mid_commit_loses_nothing_and_the_rerun_gives_the_same_files(
    stored: Path, scratch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_at: int
) -> None:
    out = tmp_path / "out"
    calls = 0
    real_replace = os.replace

    def crashing(source: os.PathLike[str] | str, target: os.PathLike[str] | str) -> None:
        nonlocal calls
        calls += 1
        if calls == crash_at:
            raise KeyboardInterrupt  # as abrupt as it gets in-process: nothing catches it
        real_replace(source, target)

    monkeypatch.setattr(commit.os, "replace", crashing)
    with pytest.raises(KeyboardInterrupt):
        transform(duckdb_engine(tmp_path / "w1"), out, stored)
    monkeypatch.setattr(commit.os, "replace", real_replace)
    for table in TABLES:  # whatever is in place is whole
        table_rows(out, table)
    transform(duckdb_engine(tmp_path / "w2"), out, stored)
    assert not (out / commit.JOURNAL).exists() and not list(out.glob(".staging-*"))
    assert files_of(out) == files_of(scratch)


def test_the_tables_agree_with_an_independent_recount(stored: Path, scratch: Path) -> None:
    expected = recount(file_partitions(stored))
    events = table_rows(scratch, "events")
    assert len(events) == sum(expected.event_type.values())
    daily = {c: i for i, c in enumerate(("event_date", *TABLES["metrics_daily"].column_names))}
    rows = table_rows(scratch, "metrics_daily")
    total = lambda name: sum(row[daily[name]] for row in rows)  # noqa: E731
    for kind, count in expected.event_type.items():
        assert total(f"events_{kind}") == count, kind
    assert total("sessions") == expected.funnel["session"]
    assert total("sessions_added") == expected.funnel["added"]
    assert total("sessions_purchased") == expected.funnel["purchased"]
    assert (total("orders"), total("revenue_vnd")) == (expected.orders, expected.revenue_vnd)
    assert total("abandoned_sessions") == len(expected.abandoned) > 0
    columns = ("event_date", *TABLES["sessions"].column_names)
    sessions = [dict(zip(columns, row, strict=True)) for row in table_rows(scratch, "sessions")]
    abandoned = {s["session_id"]: s["cart_value_vnd"] for s in sessions if s["abandoned"]}
    assert abandoned == expected.abandoned
    products = {c: i for i, c in enumerate(("event_date", *TABLES["products_daily"].column_names))}
    summed: dict[int, list[int]] = {}
    for row in table_rows(scratch, "products_daily"):
        stats = summed.setdefault(row[products["product_id"]], [0] * 5)
        for index, name in enumerate(
            ("views", "adds", "removes", "units_purchased", "revenue_vnd")
        ):
            stats[index] += row[products[name]]
    assert summed == {k: v for k, v in expected.products.items() if k is not None}


def test_of_events_sharing_an_id_the_first_input_then_time_keeps_it_and_a_stored_one_wins(
    tmp_path: Path,
) -> None:
    records = list(islice(backfill(7, START, END, 30, build_catalog()), 30))
    events = [orjson.loads(value) for _, value in records]
    later = {**events[5], "timestamp_unix": events[5]["timestamp_unix"] + 1, "city": "later"}
    again = {**events[6], "city": "again"}
    inputs = tmp_path / "in"
    inputs.mkdir()
    lines = lambda rows: b"".join(orjson.dumps(row) + b"\n" for row in rows)  # noqa: E731
    (inputs / "a.jsonl").write_bytes(lines([later, *events[:20]]))  # later first in the file
    (inputs / "b.jsonl").write_bytes(lines([{**events[3], "city": "second input"}]))
    out = tmp_path / "out"
    first = transform(duckdb_engine(tmp_path / "w1"), out, inputs)
    (inputs / "c.jsonl").write_bytes(lines([again, *events[20:]]))
    second = transform(duckdb_engine(tmp_path / "w2"), out, inputs)
    assert (first.new_events, first.duplicates, second.new_events, second.duplicates) == (
        20,
        2,
        10,
        1,
    )
    columns = ("event_date", *TABLES["events"].column_names)
    stored = [dict(zip(columns, row, strict=True)) for row in table_rows(out, "events")]
    assert sorted(e["event_id"] for e in stored) == sorted(e["event_id"] for e in events)
    cities = {e["event_id"]: e["city"] for e in stored}
    assert all(cities[e["event_id"]] == e["city"] for e in events)
