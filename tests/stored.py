"""Reading back what the sink stored, for assertions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from cartsim.storage import Layout, read_gzip_members


def stored_by_partition(data_dir: Path) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Each (log, partition)'s stored events in offset order.

    A running sink renames an open segment to its closed name at any moment; a listing that
    raced with that is simply taken again.
    """
    while True:
        grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
        try:
            for segment in Layout(data_dir).segments():
                lines, _ = read_gzip_members(segment.path.read_bytes())
                events = grouped.setdefault((segment.log, segment.partition), [])
                events.extend(orjson.loads(line) for line in lines)
        except FileNotFoundError:
            continue
        return grouped


def stored_events(data_dir: Path) -> list[dict[str, Any]]:
    return [event for events in stored_by_partition(data_dir).values() for event in events]


def stored_id_counts(data_dir: Path) -> Counter[str]:
    return Counter(event["event_id"] for event in stored_events(data_dir))
