"""One run of `cartsim transform`: new inputs into the events partitions, then every derived table.

Incremental: the manifest lists the inputs already transformed, so only new ones are read; their
events (less any event_id already stored) are merged into the events partitions of their dates,
which are rewritten. The derived tables depend on whole sessions and on each partition's clock,
which new events move, so they are recomputed from the stored events Parquet (a columnar scan,
far cheaper than parsing JSON) and only the partitions whose bytes change are replaced.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from cartsim.analytics import (
    PARTITION_COLUMN,
    SCHEMA_VERSION,
    TABLES,
    InputRecord,
    TransformManifest,
)
from cartsim.errors import CartsimError
from cartsim.transformation import commit, manifest, tables
from cartsim.transformation.sources import (
    Careful,
    Source,
    StrictReadError,
    careful_rows,
    find_sources,
    needs_care,
)

Progress = Callable[[str], None]


class Engine(Protocol):
    name: str

    def load_raw(self, sources: list[Source], careful: dict[str, Careful]) -> None: ...
    def register_table(self, view: str, table: str, folder: Path) -> None: ...
    def materialize(self, name: str, sql: str) -> None: ...
    def view(self, name: str, sql: str) -> None: ...
    def release_raw(self) -> None: ...
    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...
    def write(
        self, name: str, table: str, staging: Path, dates: list[date] | None = None
    ) -> list[date]: ...
    def close(self) -> None: ...


@dataclass
class Options:
    places: list[Path]
    out: Path
    abandon_after_s: float
    start_ms: int | None = None
    end_ms: int | None = None


@dataclass
class Report:
    engine: str
    inputs: int = 0
    already: int = 0
    open_segments: int = 0
    lines: int = 0
    events: int = 0
    new_events: int = 0
    duplicates: int = 0
    skipped_lines: int = 0
    torn_bytes: int = 0
    careful: list[str] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0
    seconds: float = 0.0


def _window(options: Options) -> str:
    conditions = []
    if options.start_ms is not None:
        conditions.append(f"timestamp_unix >= {options.start_ms}")
    if options.end_ms is not None:
        conditions.append(f"timestamp_unix < {options.end_ms}")
    return " AND ".join(conditions) or "TRUE"


def _read(engine: Engine, sources: list[Source], progress: Progress) -> dict[str, Careful]:
    """Load the new inputs; files the fast reader refuses are read line by line instead."""
    careful: dict[str, Careful] = {}
    try:
        engine.load_raw(sources, careful)
        return careful
    except StrictReadError as exc:
        progress(f"an input needs a line-by-line read ({exc}); looking for it")
    for source in sources:
        if needs_care(source):
            careful[source.name] = careful_rows(source)
    if not careful:
        raise CartsimError("the inputs cannot be read, though every line is an event")
    engine.load_raw(sources, careful)
    return careful


def run(engine: Engine, options: Options, progress: Progress) -> Report:
    started = time.monotonic()
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    if commit.recover(out):
        progress("finished the commit an earlier run left half done")
    previous = manifest.load(out, (options.start_ms, options.end_ms))
    found = find_sources(options.places)
    report = Report(engine.name, open_segments=found.open_segments)
    if not found.sources and previous is None:
        where = ", ".join(str(p) for p in options.places)
        raise CartsimError(f"no events in {where}: no closed segments or JSON-lines files")
    if previous is None:  # claim the folder first, so a crashed first run can be rerun
        manifest.save(out, _manifest(options, [], {}))
    done = {record.name: record for record in previous.inputs} if previous else {}
    new = [s for s in found.sources if s.name not in done]
    report.inputs, report.already = len(new), len(found.sources) - len(new)
    staging = commit.new_staging(out)
    try:
        records = _events(engine, options, new, staging, report, progress)
        _derived(engine, options, staging, report, progress)
        kept = {**done, **{r.name: r for r in records}}
        partitions = {
            name: sorted(
                p.name.split("=", 1)[1] for p in (out / name).glob(f"{PARTITION_COLUMN}=*")
            )
            for name in TABLES
        }
        manifest.save(out, _manifest(options, list(kept.values()), partitions))
    finally:
        engine.close()
        if not (out / commit.JOURNAL).exists():  # else the next run rolls the commit forward
            shutil.rmtree(staging, ignore_errors=True)
    report.seconds = time.monotonic() - started
    return report


def _manifest(
    options: Options, inputs: list[InputRecord], partitions: dict[str, list[str]]
) -> TransformManifest:
    return TransformManifest(
        schema_version=SCHEMA_VERSION,
        abandon_after_s=options.abandon_after_s,
        start_ms=options.start_ms,
        end_ms=options.end_ms,
        inputs=sorted(inputs, key=lambda record: record.name),
        partitions=partitions,
    )


def _events(
    engine: Engine,
    options: Options,
    new: list[Source],
    staging: Path,
    report: Report,
    progress: Progress,
) -> list[InputRecord]:
    out = options.out
    engine.register_table("stored_events", "events", out / "events")
    if not new:
        progress("no new inputs: recomputing the derived tables only")
        return []
    progress(f"reading {len(new)} new input(s) on {engine.name}")
    careful = _read(engine, new, progress)
    report.careful = sorted(careful)
    counted = dict(
        (name, (lines, events))
        for name, lines, events in engine.rows(
            "SELECT input_name, COUNT(*), "
            "SUM(CASE WHEN valid THEN 1 ELSE 0 END) FROM raw_events GROUP BY input_name"
        )
    )
    records = []
    for source in new:
        lines, events = counted.get(source.path.name, (0, 0))
        events = int(events or 0)
        read = careful.get(source.name)
        if read is not None:
            lines = read.lines
        records.append(
            InputRecord(
                name=source.name,
                size=source.size,
                lines=lines,
                events=events,
                skipped_lines=lines - events,
                torn_bytes=read.torn_bytes if read else 0,
            )
        )
    report.lines = sum(r.lines for r in records)
    report.events = sum(r.events for r in records)
    report.skipped_lines = sum(r.skipped_lines for r in records)
    report.torn_bytes = sum(r.torn_bytes for r in records)
    engine.materialize("duplicates", tables.DUPLICATES)
    engine.materialize("first_copies", tables.FIRST_COPIES)
    engine.view(
        "new_events", f"SELECT * FROM ({tables.NEW_EVENTS}) AS fresh WHERE {_window(options)}"
    )
    per_date = engine.rows(
        f"SELECT {PARTITION_COLUMN}, COUNT(*) FROM new_events GROUP BY {PARTITION_COLUMN}"
    )
    report.new_events = sum(count for _, count in per_date)
    report.duplicates = report.events - report.new_events
    dates = sorted(day for day, _ in per_date)
    if dates:
        engine.view("events_out", tables.events([day.isoformat() for day in dates]))
        engine.write("events_out", "events", staging, dates)
    engine.release_raw()
    progress(f"events: {report.new_events:,} new, {len(dates)} date partition(s) staged")
    _commit(out, staging, [("events", d.isoformat()) for d in dates], report)
    return records


def _derived(
    engine: Engine, options: Options, staging: Path, report: Report, progress: Progress
) -> None:
    engine.register_table("all_events", "events", options.out / "events")
    for name, sql in tables.VIEWS:
        engine.materialize(name, sql)
    engine.materialize("session_facts", tables.session_facts(round(options.abandon_after_s * 1000)))
    for table, sql in tables.OUTPUTS.items():
        name = f"out_{table}"
        engine.materialize(name, sql)
        dates = engine.write(name, table, staging)
        _commit(options.out, staging, [(table, d.isoformat()) for d in dates], report)
        progress(f"{table}: {len(dates)} date partition(s)")


def _commit(out: Path, staging: Path, partitions: list[commit.Partition], report: Report) -> None:
    changed = commit.changed(out, staging, partitions)
    report.unchanged += len(partitions) - len(changed)
    for table, _ in changed:
        report.written[table] = report.written.get(table, 0) + 1
    if changed:
        commit.commit(out, staging, changed)
