"""Running workers announce their web address in heartbeat files; the API reads them.

A file names one worker process; one that stopped beating for `stale_after_s` counts as gone,
so a SIGKILLed worker drops out without anyone cleaning up after it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import ValidationError

from cartsim.storage import Layout
from cartsim.worker_views import Heartbeat


def beat(layout: Layout, worker_id: str, url: str, partitions: list[int]) -> Path:
    """Write (atomically) that this worker process is alive at `url` and owns `partitions`."""
    layout.workers_dir.mkdir(parents=True, exist_ok=True)
    path = layout.workers_dir / f"{worker_id}-{os.getpid()}.json"
    temporary = path.with_suffix(".tmp")
    record = Heartbeat(url=url, pid=os.getpid(), partitions=partitions)
    temporary.write_text(record.model_dump_json())
    temporary.replace(path)
    return path


def live_workers(layout: Layout, stale_after_s: float = 5.0) -> list[Heartbeat]:
    """Workers that beat within `stale_after_s` seconds."""
    now = time.time()
    workers = []
    for path in sorted(layout.workers_dir.glob("*.json")):
        try:
            record = Heartbeat.model_validate_json(path.read_bytes())
        except (OSError, ValidationError):
            continue  # removed or being replaced meanwhile
        if now - record.beat_unix_s <= stale_after_s:
            workers.append(record)
    return workers
