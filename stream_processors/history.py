"""Tables rebuilt from the files of earlier Kafka logs.

The embedded broker keeps nothing when it stops, so after a restart the changelogs are empty
while the sink's files remain. Those files are immutable and tell the whole story of their log,
so the worker replays them through the same aggregator into plain in-memory tables, and serves
them next to the live ones. Every worker builds the same history; readers merge by (log,
partition), so it counts once.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field

import orjson

from cartsim.storage import Layout, Segment, read_gzip_members
from cartsim.stream_processors.aggregate import (
    TABLE_NAMES,
    Aggregator,
    Rules,
    Store,
    put,
    totals_partition,
)
from cartsim.stream_processors.state import AbandonedIndex

log = logging.getLogger(__name__)
_CHUNK = 5000


@dataclass
class LogTables:
    """One earlier log's tables, as its files left them."""

    log: str
    stores: dict[str, Store]
    abandoned: AbandonedIndex = field(default_factory=AbandonedIndex)

    @property
    def partitions(self) -> set[int]:
        return {totals_partition(key) for key in self.stores["totals"]}


def rebuild(layout: Layout, current_log: str, rules: Rules) -> list[LogTables]:
    """Aggregate every segment not of `current_log`; blocking, for a worker thread."""
    started = time.monotonic()
    groups: dict[str, dict[int, list[Segment]]] = defaultdict(lambda: defaultdict(list))
    for segment in layout.segments():
        if segment.log != current_log:
            groups[segment.log][segment.partition].append(segment)
    history = []
    events = 0
    for log_id, partitions in sorted(groups.items()):
        stores: dict[str, Store] = {name: {} for name in TABLE_NAMES}
        aggregator = Aggregator(stores, rules)
        for partition, segments in sorted(partitions.items()):
            for segment in segments:
                lines, _ = read_gzip_members(segment.path.read_bytes())
                for start in range(0, len(lines), _CHUNK):
                    chunk = [
                        (segment.first_offset + start + index, orjson.loads(line))
                        for index, line in enumerate(lines[start : start + _CHUNK])
                    ]
                    put(stores, aggregator.apply(partition, chunk)[0])
                events += len(lines)
        tables = LogTables(log_id, stores)
        tables.abandoned.rebuild(stores["abandoned"], tables.partitions)
        history.append(tables)
    if history:
        log.info(
            "rebuilt tables of %d earlier log(s) from %d events in the files in %.1f s",
            len(history),
            events,
            time.monotonic() - started,
        )
    return history
