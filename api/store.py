"""Events as the sink wrote them, read from the segment files off the event loop.

Each file is decoded once and kept while its name, size and modification time stay the same, so
a request costs only the files that changed since the last one.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import orjson

from cartsim.storage import Layout, read_gzip_members

Event = dict[str, Any]


class EventStore:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._files: dict[Path, tuple[tuple[int, int], list[Event]]] = {}
        self._events: list[Event] = []
        self._lock = threading.Lock()

    async def newest_first(self) -> list[Event]:
        return await asyncio.to_thread(self._refresh)

    def _refresh(self) -> list[Event]:
        with self._lock:
            changed = False
            seen: set[Path] = set()
            for segment in self.layout.segments():
                seen.add(segment.path)
                try:
                    stat = segment.path.stat()
                except FileNotFoundError:  # renamed from open to closed meanwhile
                    continue
                version = (stat.st_size, stat.st_mtime_ns)
                cached = self._files.get(segment.path)
                if cached is not None and cached[0] == version:
                    continue
                lines, _ = read_gzip_members(segment.path.read_bytes())
                self._files[segment.path] = (version, [orjson.loads(line) for line in lines])
                changed = True
            for gone in set(self._files) - seen:
                del self._files[gone]
                changed = True
            if changed:
                merged = [event for _, events in self._files.values() for event in events]
                merged.sort(key=lambda event: event["timestamp_unix"], reverse=True)
                self._events = merged
            return self._events
