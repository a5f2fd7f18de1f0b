"""A store filled the way the sink fills it: events by partition of their session, in order."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from pathlib import Path

from cartsim.producer.partitions import partition_for
from cartsim.storage import Layout
from cartsim.stream_processors.sink import SegmentSink


def fill_store(
    root: Path,
    records: Iterable[tuple[bytes, bytes]],
    partitions: int = 4,
    log: str = "0123abcd",
    segment_bytes: int = 1 << 20,
) -> int:
    """Write `records` (key, JSON value) as the sink would from a topic keyed by session, in
    batches of 5,000 (a gzip member each); small segments by default, so a store has several."""
    offsets = [0] * partitions
    sink = SegmentSink(Layout(root), log, max_bytes=segment_bytes, max_age_s=3600)
    written = 0
    source = iter(records)
    while batch := list(islice(source, 5_000)):
        rows = []
        for key, value in batch:
            partition = partition_for(key, partitions)
            rows.append((partition, offsets[partition], value))
            offsets[partition] += 1
        written += sink.write(rows)
    sink.close()
    return written
