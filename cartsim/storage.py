"""Where data lives under `shared_data/`, and how a sink segment is named and read.

A segment is a gzip JSON-lines file holding one contiguous offset range of one partition of one
Kafka log. Each batch the sink writes is its own gzip member, so a reader can always decode the
members that are whole and stop at a torn tail.

    shared_data/
    ├── share_data/products.json.gz
    └── private_data/cart_tracking/
        ├── cart_events-<log>-p<partition>-<first offset>-<last offset>.jsonl.gz   closed
        └── cart_events-<log>-p<partition>-<first offset>.open.jsonl.gz           being written

`<log>` names the Kafka log the offsets belong to (a digest of cluster id and topic), because the
embedded broker forgets everything when it restarts and its offsets begin again at 0.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

from isal import isal_zlib

SEGMENT_PREFIX = "cart_events"
_READ_WINDOW = 1 << 20  # bytes read at a time; keeps read_gzip_members' copies small
_SEGMENT_RE = re.compile(
    rf"^{SEGMENT_PREFIX}-(?P<log>[0-9a-f]{{8}})-p(?P<partition>\d{{3}})-(?P<first>\d{{12}})"
    r"(?:-(?P<last>\d{12})\.jsonl\.gz|\.open\.jsonl\.gz)$"
)


@dataclass(frozen=True)
class Layout:
    """Paths below one data root (`CARTSIM_DATA_DIR`)."""

    root: Path

    @property
    def share_dir(self) -> Path:
        return self.root / "share_data"

    @property
    def products_path(self) -> Path:
        return self.share_dir / "products.json.gz"

    @property
    def events_dir(self) -> Path:
        return self.root / "private_data" / "cart_tracking"

    @property
    def workers_dir(self) -> Path:
        """Heartbeat files of running workers, by which the API finds their web servers."""
        return self.root / "private_data" / "workers"

    @property
    def worker_dir(self) -> Path:
        """Faust's own state (table stores); private to the worker."""
        return self.root / "private_data" / "worker"

    @property
    def locks_dir(self) -> Path:
        """One lock file per partition of a log; the worker writing its segments holds it."""
        return self.root / "private_data" / "partition_locks"

    def partition_lock(self, log: str, partition: int) -> Path:
        return self.locks_dir / f"{SEGMENT_PREFIX}-{log}-p{partition:03d}.lock"

    @property
    def api_dir(self) -> Path:
        """The API's own state; private to the one API process that owns it."""
        return self.root / "private_data" / "api"

    @property
    def events_database(self) -> Path:
        """DuckDB file the API ingests segments into (DuckDB allows one writing process)."""
        return self.api_dir / "events.duckdb"

    @property
    def replay_checkpoint(self) -> Path:
        """Where `cartsim replay` records how far it got, unless told another file."""
        return self.root / "private_data" / "replay" / "checkpoint.json"

    def ensure(self) -> Layout:
        self.share_dir.mkdir(parents=True, exist_ok=True)
        self.events_dir.mkdir(parents=True, exist_ok=True)
        return self

    def floors_path(self, log: str) -> Path:
        """Per partition of `log`, the offset its files start from after a replace cleared them."""
        return self.events_dir / f"{SEGMENT_PREFIX}-{log}.floors.json"

    def segments(self) -> list[Segment]:
        """Every segment, closed and open, in (log, partition, offset) order."""
        found = (Segment.parse(p) for p in self.events_dir.glob(f"{SEGMENT_PREFIX}-*.jsonl.gz"))
        return sorted((s for s in found if s is not None), key=Segment.sort_key)

    def closed_segments(self) -> list[Segment]:
        return [s for s in self.segments() if not s.is_open]


@dataclass(frozen=True)
class Segment:
    """One segment file and what its name says it holds."""

    path: Path
    log: str
    partition: int
    first_offset: int
    last_offset: int | None  # None while the segment is open

    @property
    def is_open(self) -> bool:
        return self.last_offset is None

    def sort_key(self) -> tuple[str, int, int]:
        return (self.log, self.partition, self.first_offset)

    @classmethod
    def parse(cls, path: Path) -> Segment | None:
        match = _SEGMENT_RE.match(path.name)
        if match is None:
            return None
        last = match["last"]
        return cls(
            path=path,
            log=match["log"],
            partition=int(match["partition"]),
            first_offset=int(match["first"]),
            last_offset=None if last is None else int(last),
        )

    @staticmethod
    def open_name(log: str, partition: int, first_offset: int) -> str:
        return f"{SEGMENT_PREFIX}-{log}-p{partition:03d}-{first_offset:012d}.open.jsonl.gz"

    @staticmethod
    def closed_name(log: str, partition: int, first_offset: int, last_offset: int) -> str:
        return (
            f"{SEGMENT_PREFIX}-{log}-p{partition:03d}-{first_offset:012d}-{last_offset:012d}"
            ".jsonl.gz"
        )


def gzip_members(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """Each whole gzip member of `data`: (where it starts, where it ends, what it holds).

    Stops at a torn last member (a crash mid-write, or a writer still appending). Decoded with
    ISA-L, which reads gzip two to three times as fast as zlib: replay and ingest read every byte.
    """
    position = 0
    while position < len(data):
        decoder = isal_zlib.decompressobj(wbits=31)
        try:
            chunk = decoder.decompress(data[position:])
        except isal_zlib.error:  # type: ignore[misc]  # its stub declares an instance
            return
        if not decoder.eof:
            return
        end = len(data) - len(decoder.unused_data)
        yield position, end, chunk
        position = end


def read_gzip_members(data: bytes) -> tuple[list[bytes], int]:
    """Decode whole gzip members from `data`; return their JSON lines and the bytes they span.

    A torn last member is left out, and the returned length tells where it begins, so the
    caller can truncate or simply stop there.
    """
    lines: list[bytes] = []
    position = 0
    for _, end, chunk in gzip_members(data):
        split = chunk.split(b"\n")
        if split and not split[-1]:
            split.pop()  # after the last newline
        lines.extend(split if b"" not in split else (line for line in split if line))
        position = end
    return lines, position


def whole_members(
    path: Path, start: int = 0, batch_lines: int = 200_000
) -> Generator[tuple[list[bytes], int]]:
    """JSON lines of the whole gzip members after byte `start`, in batches of about
    `batch_lines`, with the byte each batch ends at.

    A torn last member (the sink is writing it) is not yielded; the next pass reads it whole.
    """
    lines: list[bytes] = []
    pending = b""
    position = start
    with path.open("rb") as file:
        file.seek(start)
        while chunk := file.read(_READ_WINDOW):
            pending += chunk
            decoded, used = read_gzip_members(pending)
            if not used:
                continue  # a member longer than the window: read on until it is whole
            lines.extend(decoded)
            position += used
            pending = pending[used:]
            if len(lines) >= batch_lines:
                yield lines, position
                lines = []
    if lines:
        yield lines, position


def iter_segment_lines(path: Path) -> Iterator[bytes]:
    """JSON lines of one segment, stopping quietly at a torn tail."""
    for lines, _ in whole_members(path):
        yield from lines


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new name in `directory` durable: a crash right after must not bring
    back the old name."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
