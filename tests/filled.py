"""A store filled the way the sink fills it: events by partition of their session, in order."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cartsim.producer.partitions import partition_for
from cartsim.storage import Layout
from cartsim.stream_processors.sink import SegmentSink


def fill_store(
    root: Path, records: Iterable[tuple[bytes, bytes]], partitions: int = 4, log: str = "0123abcd"
) -> int:
    """Write `records` (key, JSON value) as the sink would have from a topic keyed by session."""
    offsets = [0] * partitions
    batch = []
    for key, value in records:
        partition = partition_for(key, partitions)
        batch.append((partition, offsets[partition], value))
        offsets[partition] += 1
    sink = SegmentSink(Layout(root), log, max_bytes=1 << 20, max_age_s=3600)
    for start in range(0, len(batch), 5_000):  # several gzip members per segment
        sink.write(batch[start : start + 5_000])
    sink.close()
    return len(batch)
