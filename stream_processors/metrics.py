"""The worker's Prometheus metrics, served at /metrics on its Faust web server.

Everything is read from the worker at scrape time, so the handler does no work to feed it.
Consumer lag is the high watermark of the latest fetch response minus the next offset the
handler takes: not `end_offsets()`, whose ListOffsets answer the embedded broker gets wrong
(the base offset of the last record batch + 1), while its fetch responses carry the right one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, MutableMapping
from typing import Protocol

import faust
from faust.types import TP
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cartsim.stream_processors.sink import SegmentSink
from cartsim.stream_processors.state import WorkerState


class Observed(Protocol):
    """What the metrics read of the worker's runtime (`agents.Runtime`)."""

    sink: SegmentSink | None
    state: WorkerState
    handled: dict[int, int]  # partition -> next offset to handle
    consumed: Counter[int]  # partition -> events handled (files and tables done)


def _per_partition(
    family: CounterMetricFamily | GaugeMetricFamily, values: MutableMapping[int, int]
) -> CounterMetricFamily | GaugeMetricFamily:
    for partition in sorted(values):
        family.add_metric([str(partition)], values[partition])
    return family


class WorkerCollector(Collector):
    def __init__(self, app: faust.App, runtime: Observed, topic: str) -> None:
        self.app = app
        self.runtime = runtime
        self.topic = topic

    def collect(self) -> Iterator[Metric]:
        runtime = self.runtime
        owned = sorted(runtime.state.partitions)
        yield GaugeMetricFamily(
            "cartsim_worker_partitions",
            "Partitions of the events topic this worker owns.",
            len(owned),
        )
        yield _per_partition(
            CounterMetricFamily(
                "cartsim_worker_events_consumed",
                "Events handled (in the files and the tables) per partition of the events topic.",
                labels=["partition"],
            ),
            runtime.consumed,
        )
        marks = self._high_watermarks(owned)
        yield _per_partition(
            GaugeMetricFamily(
                "cartsim_worker_high_watermark",
                "Log-end offset of each owned partition, from the latest fetch response.",
                labels=["partition"],
            ),
            marks,
        )
        lag = {p: max(0, marks[p] - runtime.handled[p]) for p in marks if p in runtime.handled}
        yield _per_partition(
            GaugeMetricFamily(
                "cartsim_worker_consumer_lag",
                "Events on the topic the worker has not handled yet: high watermark minus the "
                "next offset to handle.",
                labels=["partition"],
            ),
            lag,
        )
        if runtime.sink is not None:
            yield from self._sink(runtime.sink)
        tables = GaugeMetricFamily(
            "cartsim_worker_table_keys", "Keys in each of the worker's tables.", labels=["table"]
        )
        for name, store in runtime.state.stores.items():
            tables.add_metric([name], len(store))
        yield tables
        yield GaugeMetricFamily(
            "cartsim_worker_abandoned_carts",
            "Abandoned carts indexed by this worker.",
            sum(runtime.state.abandoned.counts.values()),
        )

    def _high_watermarks(self, partitions: list[int]) -> dict[int, int]:
        consumer = self.app.consumer
        marks = {}
        for partition in partitions:
            try:
                mark = consumer.highwater(TP(self.topic, partition))
            except (AssertionError, RuntimeError, KeyError):
                continue  # the consumer is starting or the partition is moving
            if mark is not None:
                marks[partition] = mark
        return marks

    def _sink(self, sink: SegmentSink) -> Iterator[Metric]:
        yield _per_partition(
            CounterMetricFamily(
                "cartsim_worker_events_stored",
                "Events written to the segment files per partition (redeliveries not counted).",
                labels=["partition"],
            ),
            sink.stored,
        )
        yield CounterMetricFamily(
            "cartsim_worker_sink_bytes",
            "Compressed bytes appended to segments.",
            sink.bytes_written,
        )
        yield CounterMetricFamily(
            "cartsim_worker_sink_segments", "Segments closed.", sink.segments_closed
        )


def register(app: faust.App, runtime: Observed, topic: str) -> CollectorRegistry:
    """Serve the worker's metrics at /metrics on its web server."""
    registry = CollectorRegistry()
    registry.register(WorkerCollector(app, runtime, topic))

    @app.page("/metrics")
    async def metrics_view(web: View, request: Request) -> Response:
        body = generate_latest(registry)
        return web.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return registry
