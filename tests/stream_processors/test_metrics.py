"""The worker's /metrics, scraped with prometheus-client's parser, against what it stored."""

from __future__ import annotations

from collections import Counter

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cartsim.registry import live_workers
from cartsim.storage import Layout
from tests.conftest import Services, wait_until
from tests.stored import stored_by_partition
from tests.tables import stored_count

COUNT = 3_000


def by_partition(text: str, name: str) -> dict[int, float]:
    return {
        int(sample.labels["partition"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def value(text: str, name: str, **labels: str) -> float:
    (found,) = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and sample.labels == labels
    ]
    return found


def test_metrics_count_what_the_worker_consumed_and_stored(services: Services) -> None:
    services.start("worker")
    produced = services.run("produce", "--count", str(COUNT), "--seed", "8")
    assert produced.returncode == 0, produced.stderr
    layout = Layout(services.data_dir)
    wait_until(lambda: stored_count(services.data_dir) == COUNT, 90, "every event stored")
    wait_until(lambda: not any(s.is_open for s in layout.segments()), 30, "segments closed")
    (worker,) = wait_until(lambda: live_workers(layout), 10, "the worker's heartbeat")
    text = httpx.get(f"{worker.url}/metrics", timeout=10).text

    stored = Counter(
        {p: len(events) for (_, p), events in stored_by_partition(services.data_dir).items()}
    )
    partitions = {str(p) for p in stored}
    assert by_partition(text, "cartsim_worker_events_consumed_total") == stored
    assert by_partition(text, "cartsim_worker_events_stored_total") == stored
    # a fresh topic starts at offset 0: each partition's log end is its number of events
    assert by_partition(text, "cartsim_worker_high_watermark") == stored
    assert by_partition(text, "cartsim_worker_consumer_lag") == dict.fromkeys(stored, 0)
    segments = layout.segments()
    assert value(text, "cartsim_worker_sink_bytes_total") == sum(
        s.path.stat().st_size for s in segments
    )
    assert value(text, "cartsim_worker_sink_segments_total") == len(segments)
    assert value(text, "cartsim_worker_table_keys", table="totals") == len(partitions) == 4
    assert value(text, "cartsim_worker_partitions") == 4
