"""Agents, timers and signal handlers: a few lines each; the work is in sink, aggregate, state.

Both agents read the events topic in batches; an event is acknowledged (and its offset may be
committed) only after its batch is on disk and in the tables, whose changelog records Faust
flushes before it commits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import orjson
from faust.types import TP

from cartsim import registry
from cartsim.kafka import log_id
from stream_processors import history, views
from stream_processors.app import abandoned_topic, app, events_topic, layout, rules, settings
from stream_processors.app import tables as faust_tables
from stream_processors.sink import SegmentSink
from stream_processors.state import WorkerState

log = logging.getLogger(__name__)


class Runtime:
    """What the worker learns at start: which Kafka log it reads, and what came before it."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.log = ""
        self.sink: SegmentSink | None = None
        self.state = WorkerState(faust_tables, rules)
        self.history: list[history.LogTables] = []

    def sources(self) -> Sequence[views.Source]:
        return [self.state, *self.history]


runtime = Runtime()
views.register(app, runtime.sources)


@app.task
async def start() -> None:
    """Name the log, open the sink, then rebuild earlier logs' tables from their files."""
    runtime.log = runtime.state.log = await log_id(settings.kafka_bootstrap or "", settings.topic)
    runtime.sink = SegmentSink(
        layout,
        runtime.log,
        max_bytes=settings.segment_max_bytes,
        max_age_s=settings.segment_max_age_s,
    )
    log.info("log %s of %r; files in %s", runtime.log, settings.topic, layout.events_dir)
    runtime.ready.set()
    runtime.history = await asyncio.to_thread(history.rebuild, layout, runtime.log, rules)


@app.agent(events_topic)
async def sink_events(stream: Any) -> None:
    """Write every event to the files; a batch is acked only once it is on disk."""
    await runtime.ready.wait()
    sink = runtime.sink
    assert sink is not None
    try:
        async for batch in stream.take_events(
            settings.sink_batch_size, within=settings.sink_batch_within_s
        ):
            records = [(e.message.partition, e.message.offset, e.message.value) for e in batch]
            await asyncio.to_thread(sink.write, records)
    finally:
        sink.close()  # shutdown: nothing else is waiting on the loop


@app.agent(events_topic)
async def aggregate_events(stream: Any) -> None:
    """Keep totals, windows, sessions and abandoned carts; publish carts as they are abandoned."""
    await runtime.ready.wait()
    state = runtime.state
    async for batch in stream.take_events(
        settings.sink_batch_size, within=settings.sink_batch_within_s
    ):
        by_partition: dict[int, list[tuple[int, bytes]]] = {}
        for event in batch:
            message = event.message
            by_partition.setdefault(message.partition, []).append((message.offset, message.value))
        for partition, records in by_partition.items():
            writes, published = await asyncio.to_thread(state.apply, partition, records)
            state.write(partition, writes)
            for record in published:
                await abandoned_topic.send(
                    key=record["session_id"].encode(), value=orjson.dumps(record)
                )
        await state.seal(app.producer)


@faust_tables["totals"].on_recover
async def index_recovered() -> None:
    """Recovery restored our partitions' keys: index them before the agents resume."""
    owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == settings.topic}
    runtime.state.recovered(owned)


@app.timer(interval=1.0)
async def roll_segments() -> None:
    """Close segments that reached their age even when no new event comes to trigger it."""
    if runtime.sink is not None:
        await asyncio.to_thread(runtime.sink.roll_due)


@app.timer(interval=1.0)
async def heartbeat() -> None:
    """Tell the API where this worker serves its tables."""
    url = str(app.conf.canonical_url).rstrip("/")
    await asyncio.to_thread(
        registry.beat, layout, settings.worker_id, url, sorted(runtime.state.partitions)
    )


@app.on_partitions_revoked.connect
async def release_partitions(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
    """Another worker takes these partitions over: hand the files over closed, forget the state."""
    partitions = {tp.partition for tp in revoked if tp.topic == settings.topic}
    if runtime.sink is not None:
        await asyncio.to_thread(runtime.sink.release, partitions)
    runtime.state.revoke(partitions)
