"""Apache Spark engine: the same SQL, translated by SQLGlot from DuckDB's dialect to Spark's.

`local[*]` by default, any master URL, or Spark Connect (`sc://...`). The session runs in UTC
(the SQL derives Vietnam days itself) and writes microsecond UTC timestamps, so the Parquet it
writes has the types DuckDB writes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import sqlglot

from cartsim.analytics import PARTITION_COLUMN, TABLES
from cartsim.errors import CartsimError
from cartsim.transformation.commit import PART
from cartsim.transformation.sources import Careful, Source, StrictReadError
from cartsim.transformation.tables import EVENT_DATE, RAW_FIELDS, VALID

_SPARK_TYPES = {
    "VARCHAR": "STRING",
    "BIGINT": "BIGINT",
    "BOOLEAN": "BOOLEAN",
    "DOUBLE": "DOUBLE",
    "TIMESTAMPTZ": "TIMESTAMP",
}


def spark_sql(sql: str) -> str:
    """DuckDB-dialect SQL as Spark SQL."""
    return sqlglot.transpile(sql, read="duckdb", write="spark")[0]


def _ddl(columns: Mapping[str, str]) -> str:
    return ", ".join(f"`{name}` {_SPARK_TYPES[kind]}" for name, kind in columns.items())


class SparkEngine:
    name = "spark"

    def __init__(
        self,
        master: str,
        work_dir: Path,
        shuffle_partitions: int = 8,
        driver_memory: str = "2g",
        keep_running: bool = False,
    ) -> None:
        """`keep_running`: close() leaves the session up for the next engine (tests)."""
        from pyspark.sql import SparkSession

        work_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir = work_dir
        builder = SparkSession.builder.appName("cartsim-transform")
        builder = builder.remote(master) if master.startswith("sc://") else builder.master(master)
        settings = {
            "spark.ui.enabled": "false",
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.shuffle.partitions": str(shuffle_partitions),
            "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
            "spark.sql.parquet.compression.codec": "zstd",
            "spark.sql.sources.partitionColumnTypeInference.enabled": "true",
            "spark.local.dir": str(work_dir / "spark"),
            "spark.driver.memory": driver_memory,
            "spark.sql.adaptive.enabled": "false",
        }
        for key, value in settings.items():
            builder = builder.config(key, value)
        try:
            self.spark = builder.getOrCreate()
        except Exception as exc:  # py4j and Spark raise plain exceptions at start-up
            raise CartsimError(f"Spark did not start on {master}: {exc}") from exc
        if not master.startswith("sc://"):  # a Connect session has no SparkContext
            self.spark.sparkContext.setLogLevel("ERROR")
        self._cached: dict[str, Any] = {}
        self.keep_running = keep_running

    def close(self) -> None:
        for frame in self._cached.values():
            frame.unpersist()
        self._cached.clear()
        if not self.keep_running:
            self.spark.stop()

    def load_raw(self, sources: list[Source], careful: dict[str, Careful]) -> None:
        from pyspark.sql import functions as F

        inputs = self.spark.createDataFrame(
            [
                (s.path.name, order, s.kafka_log, s.kafka_partition)
                for order, s in enumerate(sources)
            ],
            "input_name STRING, input_order BIGINT, kafka_log STRING, kafka_partition BIGINT",
        )
        schema = _ddl(RAW_FIELDS)
        frames = []
        fast = [str(s.path) for s in sources if s.name not in careful]
        if fast:
            read = self.spark.read.schema(schema).option("mode", "FAILFAST").json(fast)
            frames.append(
                read.select(*RAW_FIELDS, F.col("_metadata.file_name").alias("input_name"))
            )
        rows = [
            (*row, source.path.name)
            for source in sources
            if source.name in careful
            for row in careful[source.name].rows
        ]
        if rows or not frames:
            frames.append(self.spark.createDataFrame(rows, f"{schema}, input_name STRING"))
        raw = frames[0] if len(frames) == 1 else frames[0].unionByName(frames[1])
        joined = (
            raw.join(F.broadcast(inputs), "input_name")
            .withColumn(PARTITION_COLUMN, F.expr(spark_sql(EVENT_DATE)))
            .withColumn("valid", F.expr(spark_sql(VALID)))
        )
        self._keep("raw_events", joined, check=True)

    def _keep(self, name: str, frame: Any, check: bool = False) -> None:
        """Register `frame` as view `name`, kept (memory, then disk) once first computed.

        `check` computes it now, so that a reader's refusal surfaces here as StrictReadError.
        """
        from pyspark.storagelevel import StorageLevel

        if name in self._cached:
            self._cached.pop(name).unpersist()
        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        if check:
            try:
                frame.count()
            except Exception as exc:  # Spark's Java errors arrive as several Python types
                frame.unpersist()
                raise StrictReadError(str(exc).splitlines()[0][:300]) from exc
        self._cached[name] = frame
        frame.createOrReplaceTempView(name)

    def release_raw(self) -> None:
        """The new inputs' rows are in the events partitions, which the derived tables read."""
        for name in ("events_out", "new_events", "first_copies", "duplicates", "raw_events"):
            frame = self._cached.pop(name, None)
            if frame is not None:
                frame.unpersist()
            self.spark.catalog.dropTempView(name)

    def register_table(self, view: str, table: str, folder: Path) -> None:
        schema = TABLES[table]
        columns = {c.name: c.type for c in schema.columns}
        if sorted(folder.glob(f"*/{PART}")):
            frame = self.spark.read.schema(f"{_ddl(columns)}, {PARTITION_COLUMN} DATE").parquet(
                str(folder)
            )
        else:
            frame = self.spark.createDataFrame([], f"{_ddl(columns)}, {PARTITION_COLUMN} DATE")
        frame.createOrReplaceTempView(view)

    def materialize(self, name: str, sql: str) -> None:
        self._keep(name, self.spark.sql(spark_sql(sql)))

    def view(self, name: str, sql: str) -> None:
        """Kept too: every Spark action would compute a plain view again from its sources."""
        self.materialize(name, sql)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.spark.sql(spark_sql(sql)).collect()]

    def write(
        self, name: str, table: str, staging: Path, dates: list[date] | None = None
    ) -> list[date]:
        """One file per date (each date is one task's), sorted by the table's key; returns the
        dates written (the dates in `name`, which `dates` may name already)."""
        schema = TABLES[table]
        frame = self.spark.table(name).select(PARTITION_COLUMN, *schema.column_names)
        raw = self.work_dir / f"write-{table}"
        shutil.rmtree(raw, ignore_errors=True)
        (
            frame.repartition(PARTITION_COLUMN)
            .sortWithinPartitions(PARTITION_COLUMN, *schema.key)
            .write.partitionBy(PARTITION_COLUMN)
            .parquet(str(raw))
        )
        dates = []
        for folder in sorted(raw.glob(f"{PARTITION_COLUMN}=*")):
            files = list(folder.glob("part-*.parquet"))
            if len(files) != 1:
                raise CartsimError(f"Spark wrote {len(files)} files for {table}/{folder.name}")
            target = staging / table / folder.name
            target.mkdir(parents=True, exist_ok=True)
            os.replace(files[0], target / PART)
            dates.append(date.fromisoformat(folder.name.split("=", 1)[1]))
        shutil.rmtree(raw, ignore_errors=True)
        return dates
