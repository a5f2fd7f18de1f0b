"""What `cartsim produce --metrics-port` reports: the target's acknowledged events."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cartsim.broker import EmbeddedBroker, free_port
from cartsim.kafka import ensure_topic
from cartsim.producer.metrics import TargetMetrics
from cartsim.producer.partitions import partition_for
from cartsim.producer.targets import KafkaTarget
from tests.cli.test_cli import cartsim, cartsim_running
from tests.conftest import wait_until

TOPIC = "metrics-test"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(metrics: TargetMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(metrics)
    return samples(generate_latest(registry).decode())


def per_partition(scraped: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> Counter[int]:
    found: Counter[int] = Counter()
    for (name, labels), value in scraped.items():
        if name == "cartsim_producer_partition_events_delivered_total" and value:
            found[int(dict(labels)["partition"])] = int(value)
    return found


def test_acknowledged_events_are_counted_per_partition(broker: EmbeddedBroker) -> None:
    keys = [f"sess_{i % 37}".encode() for i in range(600)]
    expected = Counter(partition_for(key, 4) for key in keys)

    async def scenario() -> tuple[dict, dict]:
        await ensure_topic(broker.bootstrap, TOPIC, 4)
        metrics = TargetMetrics("produce", planned=600)
        before = scrape(metrics)
        async with KafkaTarget(broker.bootstrap, TOPIC) as target:
            metrics.watch(target)
            await target.send([(key, b"{}") for key in keys])
        return before, scrape(metrics)

    before, after = asyncio.run(scenario())
    delivered = ("cartsim_producer_events_delivered_total", (("command", "produce"),))
    assert before[delivered] == 0
    assert after[delivered] == 600
    assert after[("cartsim_producer_events_planned", (("command", "produce"),))] == 600
    assert per_partition(after) == expected


def test_a_live_producer_serves_its_metrics_until_stopped(broker: EmbeddedBroker) -> None:
    port = free_port()
    env = {"CARTSIM_KAFKA_BOOTSTRAP": broker.bootstrap}
    with cartsim_running("produce", "--rate", "100", "--metrics-port", str(port), **env) as live:

        def delivered() -> float:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except httpx.HTTPError:
                return 0
            return samples(text).get(
                ("cartsim_producer_events_delivered_total", (("command", "produce"),)), 0
            )

        wait_until(lambda: delivered() > 0, 60, "delivered events in the metrics")
        busy = cartsim("produce", "--count", "10", "--metrics-port", str(port), **env)
        assert busy.returncode == 1 and f"port {port}" in busy.stderr
        live.send_signal(signal.SIGINT)
        assert live.wait(timeout=30) == 0
