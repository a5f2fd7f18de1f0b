"""Date partitions are written into a staging folder, then moved into place by rename.

A reader never sees a half-written partition: a partition's file is complete (and fsynced)
before its folder is renamed into `OUT/<table>/`. Before the first rename, a journal lists
every partition of the commit; a run that finds a journal finishes those renames first (roll
forward: the staged files are whole by then), so a crash in the middle of a commit never loses
a partition. A partition whose new file is byte for byte the file in place is left alone.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import uuid
from pathlib import Path

import orjson

from cartsim.analytics import PARTITION_COLUMN
from cartsim.storage import fsync_dir

JOURNAL = "_commit.json"
PART = "part-0.parquet"
Partition = tuple[str, str]  # table, ISO date


def new_staging(out: Path) -> Path:
    staging = out / f".staging-{uuid.uuid4().hex[:12]}"
    staging.mkdir(parents=True)
    return staging


def _folder(root: Path, partition: Partition) -> Path:
    table, day = partition
    return root / table / f"{PARTITION_COLUMN}={day}"


def changed(out: Path, staging: Path, partitions: list[Partition]) -> list[Partition]:
    """The staged partitions whose file differs from the one in place (or that are new)."""
    result = []
    for partition in partitions:
        placed = _folder(out, partition) / PART
        staged = _folder(staging, partition) / PART
        if not (placed.exists() and filecmp.cmp(placed, staged, shallow=False)):
            result.append(partition)
    return result


def commit(out: Path, staging: Path, partitions: list[Partition]) -> None:
    """Move staged partitions into `out`, replacing what was there, through the journal."""
    for partition in partitions:
        with (_folder(staging, partition) / PART).open("rb") as file:
            os.fsync(file.fileno())
    journal = out / JOURNAL
    temporary = journal.with_suffix(".tmp")
    body = {"staging": staging.name, "partitions": [list(p) for p in partitions]}
    with temporary.open("wb") as file:
        file.write(orjson.dumps(body))
        os.fsync(file.fileno())
    os.replace(temporary, journal)
    fsync_dir(out)
    _roll_forward(out)


def _roll_forward(out: Path) -> None:
    journal = out / JOURNAL
    body = orjson.loads(journal.read_bytes())
    staging = out / body["staging"]
    for table, day in body["partitions"]:
        staged = _folder(staging, (table, day))
        if not staged.exists():
            continue  # moved before a crash
        placed = _folder(out, (table, day))
        placed.parent.mkdir(parents=True, exist_ok=True)
        if placed.exists():
            old = _folder(staging / "_replaced", (table, day))
            old.parent.mkdir(parents=True, exist_ok=True)
            os.replace(placed, old)
        os.replace(staged, placed)
        fsync_dir(placed.parent)
    journal.unlink()
    fsync_dir(out)


def recover(out: Path) -> bool:
    """Finish a commit a crash interrupted, and drop staging folders; True if one was found."""
    finished = (out / JOURNAL).exists()
    if finished:
        _roll_forward(out)
    for leftover in out.glob(".staging-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return finished
