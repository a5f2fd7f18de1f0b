from __future__ import annotations

import os
import time
from pathlib import Path

from cartsim.registry import beat, live_workers
from cartsim.storage import Layout
from cartsim.worker_views import Heartbeat


def test_a_worker_that_beat_is_live_with_its_url_and_partitions(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    path = beat(layout, "cartsim", "http://worker:6066", [0, 3])
    assert path.parent == layout.workers_dir
    (found,) = live_workers(layout)
    assert (found.url, found.pid, found.partitions) == ("http://worker:6066", os.getpid(), [0, 3])
    assert found == Heartbeat.model_validate_json(path.read_bytes())


def test_a_stale_heartbeat_and_an_unreadable_file_are_no_worker(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.workers_dir.mkdir(parents=True)
    stale = Heartbeat(url="http://gone:6066", pid=1, partitions=[1], beat_unix_s=time.time() - 6)
    (layout.workers_dir / "gone-1.json").write_text(stale.model_dump_json())
    (layout.workers_dir / "torn-2.json").write_text('{"url": "http://torn')
    assert live_workers(layout) == []
    beat(layout, "cartsim", "http://worker:6066", [])
    assert [w.url for w in live_workers(layout)] == ["http://worker:6066"]
