"""The events handler, timers and signal handlers: a few lines each; the work is elsewhere.

The events topic is read in whole fetches (batches.py): each goes to the files (sink.py) and the
tables (aggregate.py, state.py) concurrently, and is acknowledged, so its offsets may be
committed, only once both are done: on disk, and the tables' changelog records stored by the
broker (changelog.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

import orjson
from faust.tables.manager import TableManager
from faust.types import TP

from cartsim import registry
from cartsim.dead_letters import DeadLetter
from cartsim.kafka import log_id
from cartsim.stream_processors import history, metrics, views
from cartsim.stream_processors.app import (
    abandoned_topic,
    app,
    events_topic,
    layout,
    rules,
    settings,
)
from cartsim.stream_processors.app import tables as faust_tables
from cartsim.stream_processors.batches import Records
from cartsim.stream_processors.changelog import Change, ChangelogWriter
from cartsim.stream_processors.sink import SegmentSink
from cartsim.stream_processors.state import Applied, WorkerState

log = logging.getLogger(__name__)


class Runtime:
    """What the worker learns at start: which Kafka log it reads, and what came before it."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.opening = asyncio.Lock()
        self.log = ""
        self.sink: SegmentSink | None = None
        self.state = WorkerState(faust_tables, rules, settings.max_event_bytes)
        self.changelog: ChangelogWriter | None = None
        self.handling = asyncio.Lock()  # a replace clears between two fetches, never during one
        self.handled: dict[int, int] = {}  # partition -> next offset to handle
        self.consumed: Counter[int] = Counter()  # partition -> events handled, for /metrics
        self.history: list[history.LogTables] = []
        self.rebuilt = asyncio.Event()  # earlier logs' tables are rebuilt from their files

    def sources(self) -> Sequence[views.Source]:
        return [self.state, *self.history]


runtime = Runtime()


async def opened_sink() -> SegmentSink:
    """The sink, opened at the first need: the first assignment, which comes before Faust
    starts the app's tasks (it starts them once the tables are recovered)."""
    async with runtime.opening:
        if runtime.sink is None:
            bootstrap = settings.kafka_bootstrap or ""
            runtime.log = runtime.state.log = await log_id(bootstrap, settings.topic)
            runtime.sink = SegmentSink(
                layout,
                runtime.log,
                max_bytes=settings.segment_max_bytes,
                max_age_s=settings.segment_max_age_s,
            )
            log.info("log %s of %r; files in %s", runtime.log, settings.topic, layout.events_dir)
    return runtime.sink


@app.task
async def start() -> None:
    """Open the sink and the changelog writer, then rebuild earlier logs' tables from files."""
    await opened_sink()
    runtime.changelog = ChangelogWriter(settings.kafka_bootstrap or "")
    await runtime.changelog.start()
    runtime.ready.set()
    runtime.history = await asyncio.to_thread(history.rebuild, layout, runtime.log, rules)
    runtime.rebuilt.set()


@app.batches(events_topic, expects=runtime.handled.get)
async def process_events(records: Records) -> None:
    """One fetch into the files and the tables at once; Faust acks it once both are done."""
    await runtime.ready.wait()
    async with runtime.handling:
        state = runtime.state
        results = await asyncio.to_thread(
            lambda: {p: state.apply(p, events) for p, events in records.items()}
        )
        await asyncio.gather(write_files(records, results), publish(results))
        for partition, events in records.items():
            runtime.handled[partition] = events[-1][0] + 1
            runtime.consumed[partition] += len(events)


@app.on_assigned_before_recovery
async def own_partitions(assigned: set[TP]) -> None:
    """Before recovery reads the changelogs, each partition's previous writer must be done.

    A worker the group dropped for stalling past its session may still be handling a fetch of
    these partitions: it writes their files and changelogs until it learns of the rebalance
    and releases their locks. Recovered before that, the tables would miss its last records,
    and keep others (an abandoned cart it recorded) that no later write replaces.
    """
    sink = await opened_sink()
    partitions = {tp.partition for tp in assigned if tp.topic == settings.topic}
    await asyncio.to_thread(sink.own, partitions)


async def write_files(records: Records, results: dict[int, Applied]) -> None:
    """Every cart event once: records that are not, and repeated event ids, are left out."""
    sink = runtime.sink
    assert sink is not None
    rows = [
        (p, offset, None if offset in results[p].unstored else value)
        for p, events in records.items()
        for offset, value in events
    ]
    await asyncio.to_thread(sink.write, rows)


async def publish(results: dict[int, Applied]) -> None:
    """The tables' writes to their changelogs, abandoned carts to their topic, dead letters to
    theirs; all stored by the broker before the fetch is acknowledged."""
    state, changelog = runtime.state, runtime.changelog
    assert changelog is not None
    changes: dict[tuple[str, int], list[Change]] = {}
    letters = []
    for partition, applied in results.items():
        changes.update(state.write(partition, applied.writes))
        for record in applied.published:
            await abandoned_topic.send(
                key=record["session_id"].encode(), value=orjson.dumps(record)
            )
        for offset, value, reason in applied.dead:
            letter = DeadLetter(
                reason=reason, topic=settings.topic, partition=partition, offset=offset
            )
            letters.append((letter, value))
    await asyncio.gather(
        changelog.send(changes), changelog.send_dead_letters(settings.dlq_topic, letters)
    )


async def clear(high_watermarks: dict[int, int]) -> dict[int, int]:
    """For a replace: every event of our partitions up to now leaves the files and the tables.

    Each owned partition gets a floor, the later of the offset handled next and the high
    watermark the caller saw before it produced anything new; events below a floor are skipped
    from then on, by the sink (its floors manifest) and by the tables (the floor is kept in the
    totals value, so it survives a restart with the changelog). Earlier logs' files and their
    rebuilt tables go too. Returns the floors.
    """
    await runtime.rebuilt.wait()
    sink, changelog = runtime.sink, runtime.changelog
    assert sink is not None and changelog is not None
    async with runtime.handling:
        floors = {
            p: max(runtime.handled.get(p, 0), high_watermarks.get(p, 0))
            for p in runtime.state.partitions
        }
        await asyncio.to_thread(sink.clear, floors)
        await changelog.send(runtime.state.reset(floors))
        runtime.history = []
    log.info("replace: cleared partitions below %s", floors)
    return floors


views.register(app, runtime.sources, clear)
metrics.register(app, runtime, settings.topic)


# Faust types receivers as taking a `signal` keyword; it arrives here in **kwargs.
@app.on_before_shutdown.connect  # type: ignore[arg-type]
async def close_files(sender: Any, **kwargs: Any) -> None:
    """The consumer has stopped and its last batch is done: close the open segments."""
    if runtime.sink is not None:
        await asyncio.to_thread(runtime.sink.close)
    if runtime.changelog is not None:
        await runtime.changelog.stop()


@faust_tables["totals"].on_recover
async def index_recovered() -> None:
    """Recovery restored our partitions' keys: index them before fetches are handled again."""
    owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == settings.topic}
    runtime.state.recovered(owned)
    runtime.handled.update(runtime.state.next_offsets(owned))
    log.info("recovered partitions %s, next offsets %s", sorted(owned), runtime.handled)


@app.timer(interval=1.0)
async def roll_segments() -> None:
    """Close segments that reached their age even when no new event comes to trigger it."""
    if runtime.sink is not None:
        await asyncio.to_thread(runtime.sink.roll_due)


@app.timer(interval=1.0)
async def heartbeat() -> None:
    """Tell the API where this worker serves its tables: its advertised URL, not its bind."""
    await asyncio.to_thread(
        registry.beat,
        layout,
        settings.worker_id,
        settings.worker_url,
        sorted(runtime.state.partitions),
    )


@app.on_partitions_revoked.connect  # type: ignore[arg-type]
async def release_partitions(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
    """A rebalance began: hand the files over closed, forget the state.

    aiokafka rebalances eagerly: `revoked` is every partition we had, also those the new
    assignment gives back to us. Faust's recovery reads a changelog partition it still
    assigns from where its last recovery stopped, as if the store still held what it read
    before; so the changelogs of what is forgotten here are marked to be read from the start.
    """
    partitions = {tp.partition for tp in revoked if tp.topic == settings.topic}
    if runtime.sink is not None:
        await asyncio.to_thread(runtime.sink.release, partitions)
    runtime.state.revoke(partitions)
    read_from_start = cast(TableManager, app.tables).recovery.active_offsets
    for partition in partitions:
        runtime.handled.pop(partition, None)
        for topic in runtime.state.changelogs.values():
            read_from_start.pop(TP(topic, partition), None)
