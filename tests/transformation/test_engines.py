"""DuckDB and Spark run the one definition of the transforms to the same files' contents."""

from __future__ import annotations

from pathlib import Path

import pytest

from cartsim.analytics import TABLES
from tests.transformation.conftest import (
    contract_types,
    duckdb_engine,
    spark_engine,
    table_rows,
    table_types,
    transform,
)

# Spark's start and its many small jobs take minutes on a busy 2-core machine; this is a ceiling
# against a hang, not a speed check (speed is measured by bench/transform.py).
pytestmark = pytest.mark.timeout(1800)


def test_both_engines_write_the_same_tables_row_for_row(
    stored: Path, spark_session: None, tmp_path: Path
) -> None:
    on_duckdb, on_spark = tmp_path / "duckdb", tmp_path / "spark"
    transform(duckdb_engine(tmp_path / "work-duckdb"), on_duckdb, stored)
    transform(spark_engine(tmp_path / "work-spark"), on_spark, stored)
    for table in TABLES:
        rows = table_rows(on_duckdb, table)
        assert rows, f"{table} is empty"
        assert table_rows(on_spark, table) == rows, table
        assert table_types(on_duckdb, table) == contract_types(table), table
        assert table_types(on_spark, table) == contract_types(table), table
    assert len({row[0] for row in table_rows(on_duckdb, "events")}) > 1, "one date partition"


@pytest.mark.parametrize("engine", [duckdb_engine, spark_engine], ids=["duckdb", "spark"])
def test_a_rerun_with_nothing_new_rewrites_nothing(
    engine, stored: Path, spark_session: None, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    transform(engine(tmp_path / "w1"), out, stored)
    files = {p: p.read_bytes() for p in out.rglob("*.parquet")}
    again = transform(engine(tmp_path / "w2"), out, stored)
    assert (again.inputs, again.written) == (0, {})
    assert {p: p.read_bytes() for p in out.rglob("*.parquet")} == files
