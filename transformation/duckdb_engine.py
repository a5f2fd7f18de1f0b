"""The default engine: DuckDB, embedded, out of core within `memory_limit`.

Its database file and spill files live in the run's staging folder, so a run holds no more
than the limit in memory however many events it reads, and leaves nothing behind.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from cartsim.analytics import PARTITION_COLUMN, TABLES
from cartsim.errors import CartsimError
from cartsim.transformation.sources import Careful, Source, StrictReadError
from cartsim.transformation.tables import EVENT_DATE, RAW_FIELDS, VALID


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, work_dir: Path, memory_limit: str, threads: int | None = None) -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(work_dir / "work.duckdb"))
            self.con.execute(f"SET memory_limit = {_literal(memory_limit)}")
        except duckdb.Error as exc:
            raise CartsimError(f"--memory-limit {memory_limit!r}: {exc}") from exc
        self.con.execute(f"SET temp_directory = {_literal(str(work_dir / 'spill'))}")
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET preserve_insertion_order = false")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")

    def close(self) -> None:
        self.con.close()

    def load_raw(self, sources: list[Source], careful: dict[str, Careful]) -> None:
        """`raw_events`: RAW_FIELDS of every line, its date, whether it is an event, and the
        input it came from; inputs named in `careful` were read line by line already, the
        others are read here.

        The rows are kept once, in a temporary table (memory, spilled under `temp_directory`
        beyond the limit), with only the input's number: the view adds the input's name and
        partition from a table of one row per input, so no per-row text is stored twice."""
        ddl = ", ".join(f'"{name}" {kind}' for name, kind in RAW_FIELDS.items())
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE raw_rows ({ddl}, input_order INTEGER, "
            f"{PARTITION_COLUMN} DATE, valid BOOLEAN)"
        )
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE inputs (input_path VARCHAR, input_name VARCHAR, "
            "input_order INTEGER, kafka_log VARCHAR, kafka_partition BIGINT)"
        )
        self.con.executemany(
            "INSERT INTO inputs VALUES (?, ?, ?, ?, ?)",
            [
                (str(s.path), s.path.name, order, s.kafka_log, s.kafka_partition)
                for order, s in enumerate(sources)
            ],
        )
        self.con.execute(
            "CREATE OR REPLACE TEMP VIEW raw_events AS SELECT r.*, i.input_name, i.kafka_log, "
            "i.kafka_partition FROM raw_rows AS r JOIN inputs AS i USING (input_order)"
        )
        fast = [source for source in sources if source.name not in careful]
        if fast:
            struct = "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in RAW_FIELDS.items())
            fields = ", ".join(f'r."{name}"' for name in RAW_FIELDS)
            try:
                self.con.execute(
                    f"""INSERT INTO raw_rows
                    SELECT {fields}, i.input_order, {EVENT_DATE}, {VALID}
                    FROM read_json($files, format = 'newline_delimited', columns = {struct}}},
                        filename = true) AS r
                    JOIN inputs AS i ON i.input_path = r.filename""",
                    {"files": [str(s.path) for s in fast]},
                )
            except duckdb.Error as exc:
                raise StrictReadError(str(exc).splitlines()[0]) from exc
        rows = [
            (*row, order)
            for order, source in enumerate(sources)
            if source.name in careful
            for row in careful[source.name].rows
        ]
        if rows:
            self.con.execute(f"CREATE TEMP TABLE careful_rows ({ddl}, input_order INTEGER)")
            marks = ", ".join("?" * (len(RAW_FIELDS) + 1))
            self.con.executemany(f"INSERT INTO careful_rows VALUES ({marks})", rows)
            self.con.execute(
                f"INSERT INTO raw_rows SELECT *, {EVENT_DATE}, {VALID} FROM careful_rows"
            )
            self.con.execute("DROP TABLE careful_rows")

    def release_raw(self) -> None:
        """The new inputs' rows are written into the events partitions by now, and the derived
        tables read those: freeing the rows leaves the whole memory limit to the later stages
        (at 10 M events the rows are most of it, and spilled)."""
        for name in ("events_out", "new_events", "raw_events"):
            self.con.execute(f"DROP VIEW IF EXISTS {name}")
        for name in ("first_copies", "duplicates", "raw_rows", "inputs"):
            self.con.execute(f"DROP TABLE IF EXISTS {name}")

    def register_table(self, view: str, table: str, folder: Path) -> None:
        """`view` over the stored partitions of `table` under `folder`, empty when none."""
        files = sorted(folder.glob("*/part-0.parquet"))
        if files:
            listed = ", ".join(_literal(str(path)) for path in files)
            self.con.execute(
                f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet([{listed}], "
                f"hive_partitioning = true, hive_types = {{'{PARTITION_COLUMN}': 'DATE'}})"
            )
            return
        columns = ", ".join(f'"{c.name}" {c.type}' for c in TABLES[table].columns)
        self.con.execute(f"CREATE OR REPLACE TABLE {view} ({PARTITION_COLUMN} DATE, {columns})")

    def materialize(self, name: str, sql: str) -> None:
        """Computed once, kept in memory (spilled beyond the limit) for the run."""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def view(self, name: str, sql: str) -> None:
        """Computed where it is read: scanning the kept rows again costs less than a copy."""
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def write(
        self, name: str, table: str, staging: Path, dates: list[date] | None = None
    ) -> list[date]:
        """One zstd Parquet file per date (of `dates`, else of every date in `name`), rows in
        the table's key order; returns the dates.

        A plain COPY per date rather than one partitioned COPY: DuckDB's partitioned writer
        buffers every row by partition first, which costs more than the write itself, and a
        date's rows are found cheaply (a column filter on a table, or a pruned Parquet scan)."""
        if dates is None:
            dates = [row[0] for row in self.rows(f"SELECT DISTINCT {PARTITION_COLUMN} FROM {name}")]
        schema = TABLES[table]
        columns = ", ".join(f'"{column}"' for column in schema.column_names)
        order = ", ".join(f'"{column}"' for column in schema.key) or "ALL"
        for day in sorted(dates):
            target = staging / table / f"{PARTITION_COLUMN}={day.isoformat()}"
            target.mkdir(parents=True, exist_ok=True)
            self.con.execute(
                f"COPY (SELECT {columns} FROM {name} "
                f"WHERE {PARTITION_COLUMN} = DATE '{day.isoformat()}' ORDER BY {order}) "
                f"TO {_literal(str(target / 'part-0.parquet'))} "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
        return dates
