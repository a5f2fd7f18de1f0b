"""Reading back what the sink stored, for assertions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from cartsim.storage import Layout, read_gzip_members


def stored_events(data_dir: Path) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for segment in Layout(data_dir).segments():
        lines, _ = read_gzip_members(segment.path.read_bytes())
        events.extend(orjson.loads(line) for line in lines)
    return events


def stored_id_counts(data_dir: Path) -> Counter[str]:
    return Counter(event["event_id"] for event in stored_events(data_dir))
