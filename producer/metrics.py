"""Prometheus metrics of `cartsim produce` and `cartsim replay` (`--metrics-port`).

What a target has delivered is read from it at scrape time (Kafka acknowledgements, HTTP 2xx
answers, lines written), so sending does no work to feed the metrics; prometheus-client's own
HTTP server serves them from a thread of the command's process.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cartsim.errors import CartsimError
from cartsim.producer.targets import KafkaTarget, Target


class TargetMetrics(Collector):
    """The delivered counts of the target being watched, labelled with the command's name."""

    def __init__(self, command: str, planned: int | None = None) -> None:
        self.command = command
        self.planned = planned
        self.target: Target | None = None

    def watch(self, target: Target) -> None:
        self.target = target

    def collect(self) -> Iterator[Metric]:
        target = self.target
        delivered = CounterMetricFamily(
            "cartsim_producer_events_delivered",
            "Events the target acknowledged: stored by Kafka, answered 2xx over HTTP, or written.",
            labels=["command"],
        )
        delivered.add_metric([self.command], 0 if target is None else target.sent)
        yield delivered
        if isinstance(target, KafkaTarget):
            partitions = CounterMetricFamily(
                "cartsim_producer_partition_events_delivered",
                "Events Kafka acknowledged, per partition of the target topic.",
                labels=["command", "topic", "partition"],
            )
            for partition in target.partitions:
                value = target.acked[partition]
                partitions.add_metric([self.command, target.topic, str(partition)], value)
            yield partitions
        if self.planned is not None:
            planned = GaugeMetricFamily(
                "cartsim_producer_events_planned",
                "Events the command was asked to send (--count), when it was.",
                labels=["command"],
            )
            planned.add_metric([self.command], self.planned)
            yield planned


def serve(port: int, command: str, planned: int | None = None) -> TargetMetrics:
    """Serve the command's metrics on 0.0.0.0:`port`/metrics until the process ends."""
    metrics = TargetMetrics(command, planned)
    registry = CollectorRegistry()
    registry.register(metrics)
    try:
        start_http_server(port, registry=registry)
    except OSError as exc:
        raise CartsimError(f"cannot serve metrics on port {port}: {exc.strerror}") from exc
    return metrics
