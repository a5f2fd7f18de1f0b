"""Stored pipeline output for the transformation tests: backfilled events over a few days,
written by the real sink as segments of three partitions, and the engines that transform it."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path

import duckdb
import pytest

from cartsim.analytics import TABLES
from cartsim.moments import VIETNAM
from cartsim.producer.catalog import build_catalog
from cartsim.producer.journeys import backfill
from cartsim.settings import Settings
from cartsim.storage import Layout
from cartsim.stream_processors.sink import SegmentSink
from cartsim.transformation.duckdb_engine import DuckDBEngine
from cartsim.transformation.pipeline import Engine, Options, Report, run
from cartsim.transformation.spark_engine import SparkEngine

COUNT = 3_000
PARTITIONS = 3
LOG = "5eed0001"
START = datetime(2024, 11, 10, 20, tzinfo=VIETNAM)
END = datetime(2024, 11, 13, 4, tzinfo=VIETNAM)


def write_segments(root: Path, count: int = COUNT, seed: int = 11, rounds: int = 2) -> None:
    """`count` events over START..END in `rounds` closed segments per partition."""
    records = list(islice(backfill(seed, START, END, count, build_catalog()), count))
    offsets = [0] * PARTITIONS
    per_round = -(-count // rounds)
    for first in range(0, count, per_round):
        sink = SegmentSink(Layout(root), LOG, max_bytes=1 << 30, max_age_s=1e9)
        batch = []
        for key, value in records[first : first + per_round]:
            partition = zlib.crc32(key) % PARTITIONS
            batch.append((partition, offsets[partition], value))
            offsets[partition] += 1
        sink.write(batch)
        sink.close()


@pytest.fixture(scope="session")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding the sink's segments; tests only read it."""
    root = tmp_path_factory.mktemp("stored")
    write_segments(root)
    return root


@pytest.fixture(scope="session")
def spark_session() -> Iterator[None]:
    """One local[2] Spark for every test that uses the Spark engine, stopped at the end."""
    engine = SparkEngine("local[2]", Path("/tmp") / "cartsim-spark-tests", keep_running=True)
    try:
        yield None
    finally:
        engine.spark.stop()


def duckdb_engine(work: Path) -> DuckDBEngine:
    return DuckDBEngine(work, "1GB", threads=2)


def spark_engine(work: Path) -> SparkEngine:
    return SparkEngine("local[2]", work, shuffle_partitions=2, keep_running=True)


def transform(engine: Engine, out: Path, *places: Path) -> Report:
    options = Options(list(places), out, Settings().abandon_after_s)
    return run(engine, options, lambda line: None)


def table_rows(out: Path, table: str) -> list[tuple]:
    """A table's rows in file order (partitions by date), partition column first."""
    files = sorted((out / table).glob("*/part-0.parquet"))
    if not files:
        return []
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        query = (
            "SELECT event_date, * EXCLUDE (event_date) "
            "FROM read_parquet($files, hive_partitioning = true)"
        )
        return con.execute(query, {"files": [str(f) for f in files]}).fetchall()


def table_types(out: Path, table: str) -> list[tuple[str, str]]:
    files = sorted((out / table).glob("*/part-0.parquet"))
    with duckdb.connect() as con:
        described = con.execute(
            "DESCRIBE SELECT * FROM read_parquet($files, hive_partitioning = false)",
            {"files": [str(f) for f in files]},
        ).fetchall()
    return [(row[0], row[1]) for row in described]


def contract_types(table: str) -> list[tuple[str, str]]:
    named = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}
    return [(c.name, named.get(c.type, c.type)) for c in TABLES[table].columns]
