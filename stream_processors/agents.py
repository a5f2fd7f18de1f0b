"""Agents: a few lines of `async for` each; the work they call is plain Python in its own module."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faust.types import TP

from cartsim.kafka import log_id
from stream_processors.app import app, events_topic, layout, settings
from stream_processors.sink import SegmentSink

log = logging.getLogger(__name__)


class _SinkHolder:
    """The worker's one sink, opened when the agent starts (it needs the broker's identity)."""

    sink: SegmentSink | None = None


_holder = _SinkHolder()


async def open_sink() -> SegmentSink:
    identity = await log_id(settings.kafka_bootstrap or "", settings.topic)
    log.info("sinking %s (log %s) into %s", settings.topic, identity, layout.events_dir)
    return SegmentSink(
        layout,
        identity,
        max_bytes=settings.segment_max_bytes,
        max_age_s=settings.segment_max_age_s,
    )


@app.agent(events_topic)
async def sink_events(stream: Any) -> None:
    """Write every event to the files; a batch is acked only once it is on disk."""
    sink = _holder.sink = await open_sink()
    try:
        async for batch in stream.take_events(
            settings.sink_batch_size, within=settings.sink_batch_within_s
        ):
            records = [(e.message.partition, e.message.offset, e.message.value) for e in batch]
            await asyncio.to_thread(sink.write, records)
    finally:
        _holder.sink = None
        sink.close()  # shutdown: nothing else is waiting on the loop


@app.timer(interval=1.0)
async def roll_segments() -> None:
    """Close segments that reached their age even when no new event comes to trigger it."""
    if _holder.sink is not None:
        await asyncio.to_thread(_holder.sink.roll_due)


@app.on_partitions_revoked.connect
async def release_partitions(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
    """Another worker takes these partitions over: hand them over closed."""
    if _holder.sink is not None:
        await asyncio.to_thread(_holder.sink.release, {tp.partition for tp in revoked})
