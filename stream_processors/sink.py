"""Idempotent gzip JSON-lines sink: every event of the topic in the files exactly once.

Kafka redelivers after a crash (at-least-once), so the files, not the consumer's commits, are the
record of what is stored. Each segment holds one contiguous offset range of one partition; its
name says which. On taking a partition the sink reads the names (and repairs an open segment a
crash left behind) to learn the next offset it needs, and drops anything older: a replay writes
nothing twice. Each batch is one gzip member, fsynced before the stream may commit past it.

Records the worker does not store (not cart events, repeated event ids) come as None: their
offsets still belong to the segment's range, so a segment's lines can be fewer than its range
holds. Each member therefore carries the last offset it covers in a gzip extra field (subfield
"co", RFC 1952), which every gzip reader skips; repairing an open segment reads it back.

A worker writes a partition's segments only while it holds the partition's lock file
(`own`), released when a rebalance takes the partition (`release`) or the process ends. Two
workers can believe they own a partition at once: one whose event loop stalled past its
session is dropped from the group and its partitions assigned elsewhere, but it finishes the
fetch it was handling before it learns so. Without transactions (the embedded broker has
none, docs/embedded-broker.md) nothing else fences that writer; the lock makes the new owner
wait until the old one is done, then read what it wrote: the worker takes the locks of a new
assignment before its tables are recovered from their changelogs.

All methods block (file I/O, compression): call them from a worker thread, never the event loop.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson

from cartsim.storage import SEGMENT_PREFIX, Layout, Segment, fsync_dir, gzip_members

log = logging.getLogger(__name__)

ConsumedEvent = tuple[int, int, bytes | None]  # partition, offset, JSON value (None: not stored)
_EXTRA_ID = b"co"  # gzip extra subfield: the last offset a member covers, 8 bytes LE


def gzip_member(data: bytes, last_offset: int, level: int) -> bytes:
    """One gzip member of `data` whose header carries `last_offset`."""
    extra = _EXTRA_ID + struct.pack("<Hq", 8, last_offset)
    header = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff" + struct.pack("<H", len(extra)) + extra
    deflate = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = deflate.compress(data) + deflate.flush()
    return header + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def member_offsets(data: bytes) -> tuple[list[tuple[int | None, int]], int]:
    """Per whole member: (the last offset its header carries or None, its lines); and the
    bytes the whole members span (a torn tail is left out)."""
    members: list[tuple[int | None, int]] = []
    position = 0
    for start, end, chunk in gzip_members(data):
        lines = sum(1 for line in chunk.split(b"\n") if line)
        members.append((_extra_offset(data, start), lines))
        position = end
    return members, position


def _extra_offset(data: bytes, start: int) -> int | None:
    if not data[start + 3] & 0x04:  # FEXTRA
        return None
    (length,) = struct.unpack_from("<H", data, start + 10)
    at, end = start + 12, start + 12 + length
    while at + 4 <= end:
        ident, size = data[at : at + 2], struct.unpack_from("<H", data, at + 2)[0]
        if ident == _EXTRA_ID and size == 8:
            return int(struct.unpack_from("<q", data, at + 4)[0])
        at += 4 + size
    return None


@dataclass
class _OpenSegment:
    path: Path
    file: BinaryIO
    first_offset: int
    next_offset: int
    size: int
    opened_at: float


class SegmentSink:
    """Writes records of one Kafka log into per-partition segments under `layout.events_dir`."""

    def __init__(
        self,
        layout: Layout,
        log_id: str,
        *,
        max_bytes: int,
        max_age_s: float,
        compresslevel: int = 6,
    ) -> None:
        self.layout = layout.ensure()
        self.directory = layout.events_dir
        self.log_id = log_id
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.compresslevel = compresslevel
        self._open: dict[int, _OpenSegment] = {}
        self._next: dict[int, int | None] = {}  # next offset wanted; None: no file yet
        self._owned: dict[int, BinaryIO] = {}  # partition -> its lock file, locked
        self._lock = threading.Lock()
        self.written = 0
        self.skipped = 0
        # for the worker's metrics: events written per partition, compressed bytes, segments
        self.stored: Counter[int] = Counter()
        self.bytes_written = 0
        self.segments_closed = 0

    def write(self, records: Iterable[ConsumedEvent]) -> int:
        """Append records; skip those the files already hold. Returns how many were written."""
        by_partition: dict[int, list[tuple[int, bytes | None]]] = {}
        for partition, offset, value in records:
            by_partition.setdefault(partition, []).append((offset, value))
        written = 0
        with self._lock:
            for partition, batch in by_partition.items():
                written += self._write_partition(partition, batch)
            self.written += written
        return written

    def own(self, partitions: Iterable[int]) -> None:
        """Wait until these partitions' files are ours alone: a worker that wrote them before
        a rebalance has released them (or ended)."""
        for partition in partitions:
            if partition in self._owned:
                continue
            path = self.layout.partition_lock(self.log_id, partition)
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = path.open("ab")
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("partition %d: waiting for the worker that wrote it to let go", partition)
                started = time.monotonic()
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                log.info("partition %d: ours after %.1f s", partition, time.monotonic() - started)
            self._owned[partition] = lock

    def roll_due(self) -> None:
        """Close segments past their age, so readers see them as finished."""
        now = time.monotonic()
        with self._lock:
            for partition, segment in list(self._open.items()):
                if now - segment.opened_at >= self.max_age_s:
                    self._close(partition)

    def release(self, partitions: Iterable[int]) -> None:
        """Close and forget partitions this worker no longer owns (after a rebalance)."""
        partitions = sorted(partitions)
        with self._lock:
            for partition in partitions:
                self._close(partition)
                self._next.pop(partition, None)
                self._disown(partition)
        log.info("released partitions %s", partitions)

    def clear(self, floors: dict[int, int]) -> int:
        """Delete what the files hold below each partition's floor, and every earlier log's
        segments; records below a floor are skipped from now on, across restarts too (the
        floors are kept in a small manifest). Returns how many files were deleted.

        For a replace: everything handled so far goes, what comes next stays.
        """
        deleted = 0
        with self._lock:
            for partition, floor in floors.items():
                self._close(partition)
                self._next[partition] = max(floor, self._next.get(partition) or 0)
            manifest = self.layout.floors_path(self.log_id)
            kept = {**self._floors(), **{str(p): n for p, n in floors.items()}}
            temporary = manifest.with_suffix(".tmp")
            with temporary.open("wb") as file:
                file.write(orjson.dumps(kept))
                os.fsync(file.fileno())
            os.replace(temporary, manifest)
            for segment in self.layout.segments():
                if segment.log == self.log_id:
                    below = floors.get(segment.partition)
                    if below is None or segment.first_offset >= below:
                        continue  # another worker's partition, or already past the floor
                segment.path.unlink(missing_ok=True)
                deleted += 1
            for path in self.directory.glob(f"{SEGMENT_PREFIX}-*.floors.json"):
                if path != manifest:
                    path.unlink(missing_ok=True)
            fsync_dir(self.directory)
        return deleted

    def _floors(self) -> dict[str, int]:
        try:
            return orjson.loads(self.layout.floors_path(self.log_id).read_bytes())
        except FileNotFoundError:
            return {}

    def close(self) -> None:
        with self._lock:
            for partition in list(self._open):
                self._close(partition)
            for partition in list(self._owned):
                self._disown(partition)

    def _disown(self, partition: int) -> None:
        lock = self._owned.pop(partition, None)
        if lock is not None:
            lock.close()  # closing the file releases its lock

    def _write_partition(self, partition: int, batch: list[tuple[int, bytes | None]]) -> int:
        if partition not in self._next:
            self._next[partition] = self._recover(partition)
        wanted = self._next[partition]
        fresh = batch if wanted is None else [(o, v) for o, v in batch if o >= wanted]
        self.skipped += len(batch) - len(fresh)
        start = 0
        for index in range(1, len(fresh) + 1):
            # a gap in offsets ends a run: every segment stays contiguous
            if index == len(fresh) or fresh[index][0] != fresh[index - 1][0] + 1:
                self._append_run(partition, fresh[start:index])
                start = index
        return sum(value is not None for _, value in fresh)

    def _append_run(self, partition: int, run: list[tuple[int, bytes | None]]) -> None:
        first_offset = run[0][0]
        segment = self._open.get(partition)
        if segment is not None and segment.next_offset != first_offset:
            self._close(partition)
            segment = None
        if segment is None:
            segment = self._start(partition, first_offset)
        lines = [value for _, value in run if value is not None]
        data = b"\n".join(lines) + b"\n" if lines else b""
        payload = gzip_member(data, run[-1][0], self.compresslevel)
        segment.file.write(payload)
        segment.file.flush()
        os.fsync(segment.file.fileno())
        segment.size += len(payload)
        self.bytes_written += len(payload)
        self.stored[partition] += len(run)
        segment.next_offset = run[-1][0] + 1
        self._next[partition] = segment.next_offset
        if segment.size >= self.max_bytes:
            self._close(partition)

    def _start(self, partition: int, first_offset: int) -> _OpenSegment:
        path = self.directory / Segment.open_name(self.log_id, partition, first_offset)
        segment = _OpenSegment(
            path, path.open("ab"), first_offset, first_offset, 0, time.monotonic()
        )
        self._open[partition] = segment
        return segment

    def _close(self, partition: int) -> None:
        segment = self._open.pop(partition, None)
        if segment is None:
            return
        segment.file.close()
        if segment.next_offset == segment.first_offset:
            segment.path.unlink(missing_ok=True)
            return
        closed = Segment.closed_name(
            self.log_id, partition, segment.first_offset, segment.next_offset - 1
        )
        segment.path.rename(self.directory / closed)
        fsync_dir(self.directory)
        self.segments_closed += 1

    def _recover(self, partition: int) -> int | None:
        """Next offset the files need for `partition`; closes segments a crash left open."""
        next_offset: int | None = None
        for segment in self.layout.segments():
            if segment.log != self.log_id or segment.partition != partition:
                continue
            if segment.is_open:
                last = self._repair(segment)
                if last is None:
                    continue
            else:
                last = segment.last_offset
            assert last is not None
            next_offset = max(next_offset or 0, last + 1)
        floor = self._floors().get(str(partition))
        return next_offset if floor is None else max(next_offset or 0, floor)

    def _repair(self, segment: Segment) -> int | None:
        """Keep the whole gzip members of a segment left open by a crash, and close it."""
        data = segment.path.read_bytes()
        members, valid = member_offsets(data)
        if valid < len(data):
            log.warning(
                "%s: dropped a torn gzip tail of %d bytes (a crash mid-write); "
                "those events were never acknowledged and will be read again",
                segment.path.name,
                len(data) - valid,
            )
        if not members:
            segment.path.unlink()
            return None
        with segment.path.open("r+b") as file:
            file.truncate(valid)
            os.fsync(file.fileno())
        last = segment.first_offset - 1
        for carried, lines in members:  # members of older versions carry no offset
            last = carried if carried is not None else last + lines
        segment.path.rename(
            self.directory
            / Segment.closed_name(segment.log, segment.partition, segment.first_offset, last)
        )
        fsync_dir(self.directory)
        return last
