"""`cartsim transform`: the stored events into partitioned Parquet tables."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import click

from cartsim.cli.commands import cli, console
from cartsim.errors import CartsimError
from cartsim.producer.options import moment
from cartsim.settings import get_settings


def _ms(value: datetime | None) -> int | None:
    return None if value is None else round(value.timestamp() * 1000)


@cli.command()
@click.option(
    "--from",
    "places",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A data folder (CARTSIM_DATA_DIR, the default), a folder of segments or JSON-lines "
    "files, or files; repeatable.",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Tables folder.")
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="duckdb on this machine, or Apache Spark (needs Java 17).",
)
@click.option("--memory-limit", default="2GB", show_default=True, help="DuckDB's memory limit.")
@click.option(
    "--spark-master",
    default="local[*]",
    show_default=True,
    help="Spark master URL, or sc://host:port for Spark Connect.",
)
@click.option("--start", callback=moment, help="Only events from this ISO date/time (Vietnam).")
@click.option("--end", callback=moment, help="Only events before this ISO date/time.")
def transform(
    places: tuple[Path, ...],
    out: Path,
    engine: str,
    memory_limit: str,
    spark_master: str,
    start: datetime | None,
    end: datetime | None,
) -> None:
    """Sessionised, typed Parquet tables (zstd, partitioned by event date) from stored events.

    Reruns are incremental: only inputs not yet transformed are read."""
    from cartsim.transformation.pipeline import Engine, Options, run

    if start is not None and end is not None and end <= start:
        raise click.BadParameter("must be after --start", param_hint="--end")
    settings = get_settings()
    options = Options(
        places=list(places) or [settings.data_dir],
        out=out,
        abandon_after_s=settings.abandon_after_s,
        start_ms=_ms(start),
        end_ms=_ms(end),
    )
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".work"
    if engine == "spark":
        from cartsim.transformation.spark_engine import SparkEngine

        if not spark_master.startswith("sc://") and not (
            shutil.which("java") or os.environ.get("JAVA_HOME")
        ):
            raise CartsimError(
                "Spark needs Java 17: install it (Debian: apt-get install "
                "openjdk-17-jre-headless) or set JAVA_HOME"
            )
        chosen: Engine = SparkEngine(spark_master, work)
    else:
        from cartsim.transformation.duckdb_engine import DuckDBEngine

        chosen = DuckDBEngine(work, memory_limit)
    try:
        report = run(chosen, options, lambda line: console.print(f"[dim]{line}[/]"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    written = ", ".join(f"{table} {n}" for table, n in report.written.items()) or "none"
    console.print(
        f"transformed {report.inputs} new input(s) ({report.already} done before) in "
        f"{report.seconds:.1f} s: {report.new_events:,} new events; partitions written: "
        f"{written}; {report.unchanged} unchanged"
    )
    skipped = [
        f"{report.skipped_lines:,} line(s) that are not events" if report.skipped_lines else "",
        f"{report.duplicates:,} duplicate event(s)" if report.duplicates else "",
        f"{report.torn_bytes:,} bytes of torn gzip tails" if report.torn_bytes else "",
        f"{report.open_segments} open segment(s) still being written"
        if report.open_segments
        else "",
    ]
    if any(skipped):
        console.print("skipped: " + "; ".join(s for s in skipped if s))
    click.echo(str(out))
