"""What `--from` names: the sink's closed segments of a data folder, or plain JSON-lines files.

The engines read inputs with their own fast JSON readers, which refuse a whole file for one bad
line or a torn gzip tail. Such a file is read here instead, line by line with the same rules
on both engines (`careful_rows`): whole gzip members only, and a line that is not a JSON object
or has a field of the wrong type counts as skipped, or is kept with that field null.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cartsim.errors import CartsimError
from cartsim.storage import SEGMENT_PREFIX, Layout, Segment, read_gzip_members
from cartsim.transformation.tables import RAW_FIELDS

PLAIN_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".ndjson.gz")
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "VARCHAR": (str,),
    "BIGINT": (int,),
    "BOOLEAN": (bool,),
}


class StrictReadError(CartsimError):
    """An engine's fast reader refused an input (a bad line or a torn gzip tail)."""


@dataclass(frozen=True)
class Source:
    """One input file; `name` identifies it in the manifest (a segment's name is unique)."""

    path: Path
    name: str
    size: int
    kafka_log: str | None = None
    kafka_partition: int | None = None

    @property
    def gzipped(self) -> bool:
        return self.path.name.endswith(".gz")


@dataclass
class Found:
    sources: list[Source] = field(default_factory=list)
    open_segments: int = 0


def _segment_source(segment: Segment) -> Source:
    return Source(
        segment.path,
        segment.path.name,
        segment.path.stat().st_size,
        segment.log,
        segment.partition,
    )


def _plain_source(path: Path) -> Source:
    resolved = path.resolve()
    return Source(resolved, str(resolved), resolved.stat().st_size)


def _segments(folder: Path) -> list[Segment]:
    """Segments of a data root, or of a folder of segments given directly."""
    layout = Layout(folder)
    if layout.events_dir.is_dir():
        return layout.segments()
    found = (Segment.parse(path) for path in folder.glob(f"{SEGMENT_PREFIX}-*.jsonl.gz"))
    return sorted((s for s in found if s is not None), key=Segment.sort_key)


def _from_folder(folder: Path, found: Found) -> None:
    segments = _segments(folder)
    if segments:
        found.open_segments += sum(segment.is_open for segment in segments)
        found.sources.extend(_segment_source(s) for s in segments if not s.is_open)
        return
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name.endswith(PLAIN_SUFFIXES):
            found.sources.append(_plain_source(path))


def find_sources(places: Iterable[Path]) -> Found:
    """Every input under `places` in a stable order; open (still written) segments are left."""
    found = Found()
    for place in places:
        if not place.exists():
            raise CartsimError(f"{place} does not exist")
        if place.is_dir():
            _from_folder(place, found)
        else:
            segment = Segment.parse(place)
            found.sources.append(_segment_source(segment) if segment else _plain_source(place))
    names = [source.path.name for source in found.sources]
    if len(set(names)) != len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        raise CartsimError(f"two inputs share the file name {twice[0]!r}: rename one")
    for source in found.sources:
        if not os.access(source.path, os.R_OK):
            raise CartsimError(f"cannot read {source.path}: permission denied")
    return found


@dataclass
class Careful:
    """A file read line by line: its rows, and what was left out."""

    rows: list[tuple[Any, ...]]
    lines: int
    skipped: int
    torn_bytes: int


def _lines(source: Source) -> tuple[list[bytes], int]:
    try:
        data = source.path.read_bytes()
    except OSError as exc:
        raise CartsimError(f"cannot read {source.path}: {exc.strerror or exc}") from exc
    if not source.gzipped:
        return [line for line in data.split(b"\n") if line.strip()], 0
    if data[:2] != b"\x1f\x8b":
        raise CartsimError(f"cannot read {source.path}: not a gzip file")
    lines, whole = read_gzip_members(data)
    if whole == 0 and data:
        raise CartsimError(f"cannot read {source.path}: its first gzip member is damaged")
    return lines, len(data) - whole


def _row(line: bytes) -> tuple[Any, ...] | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    row = []
    for name, kind in RAW_FIELDS.items():
        item = value.get(name)
        wanted = _PYTHON_TYPES[kind]
        # bool is an int in Python; JSON's true is no number
        if not isinstance(item, wanted) or (kind == "BIGINT" and isinstance(item, bool)):
            item = None
        row.append(item)
    return tuple(row)


def careful_rows(source: Source) -> Careful:
    """Rows of RAW_FIELDS, one per line that is a JSON object; other lines are skipped."""
    lines, torn = _lines(source)
    rows = [row for row in map(_row, lines) if row is not None]
    return Careful(rows, len(lines), len(lines) - len(rows), torn)


def needs_care(source: Source) -> bool:
    """Whether an engine's strict reader would refuse the file (a torn tail or a bad line)."""
    lines, torn = _lines(source)
    return bool(torn) or any(_row(line) is None or not _strict(line) for line in lines)


def _strict(line: bytes) -> bool:
    """No field present with a type the engines' readers would refuse."""
    value = orjson.loads(line)
    for name, kind in RAW_FIELDS.items():
        item = value.get(name)
        if item is None:
            continue
        if not isinstance(item, _PYTHON_TYPES[kind]) or (
            kind == "BIGINT" and isinstance(item, bool)
        ):
            return False
    return True
