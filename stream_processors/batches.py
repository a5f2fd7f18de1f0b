"""Whole fetches of a topic handed to one coroutine, where Faust's per-event path is the cost.

Faust delivers every record on its own: two tasks per record (`wait_first(callback,
suspend_flow)`), a lock, a decode, a queue, sensors, then the stream's bookkeeping. Measured
here (2 cores, the embedded broker, 300,000 events already on the topic): a no-op agent over
`stream.take_events` drains about 10,000 events/s; the same fetches handed over whole, about
110,000/s. So for the events topic this consumer gives each fetch, as a mapping of partition to
records, to one handler.

Everything else stays Faust's: group membership, assignment, table recovery, flow control,
commits. A fetch is tracked as in flight while it is handled and its offsets are acknowledged
after the handler returns, so Faust commits only what was handled, waits for a fetch in flight
before it hands partitions over in a rebalance, and on shutdown lets it finish (it is shielded
from the fetcher's cancellation) instead of abandoning it half done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import faust
from aiokafka.errors import IllegalStateError
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, Message, ServiceT, TopicT
from faust.types.tuples import ack_lock

Records = dict[int, list[tuple[int, bytes]]]  # partition -> (offset, value), in offset order
BatchHandler = Callable[[Records], Awaitable[None]]
AssignedCallback = Callable[[set[TP]], Awaitable[None]]
#: The offset a handler's state has not yet decided for a partition, when the state knows.
NextOffset = Callable[[int], int | None]
Fetched = dict[TP, list[Any]]  # aiokafka ConsumerRecords by topic partition

log = logging.getLogger(__name__)


class BatchingConsumer(driver.Consumer):
    """Faust's aiokafka consumer, with a fetch loop that batches the app's batch topics.

    A batch topic's records skip Faust's message objects: per partition and fetch one message
    stands for the fetch in Faust's bookkeeping of records in flight, and the offsets are
    acknowledged together.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rewound: dict[TP, tuple[int, int]] = {}  # generation, offset sought back to

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Faust's fetch loop, batched. A handler's exception ends it, which crashes the worker
        (exit code 1, the reason logged) instead of leaving it alive and idle."""
        handlers = cast(App, self.app).batch_handlers
        read_offset = self._read_offset
        stopped = cast(Any, fetcher)._stopped.is_set
        handling: asyncio.Future[None] | None = None  # the previous fetch, still being handled
        while not (self._stopped.is_set() or stopped()):
            records, active = await self._wait_next_records(timeout=1.0)
            if handling is not None and handling.done():
                handling.result()  # a handler's exception surfaces here, even when idle
                handling = None
            if not records or self.should_stop:
                continue
            if not self.flow_active:  # fetched as a rebalance began: read them again later
                await self.perform_seek()
                continue
            generation = self.app.consumer_generation_id
            batches: dict[str, Fetched] = {}
            for tp, fetched in records.items():
                if not self.flow_active or self.app.consumer_generation_id != generation:
                    break  # a rebalance began: the fetch is dropped below
                if active is not None and tp not in active and tp not in self._buffered_partitions:
                    continue
                last = read_offset[tp]
                kept = fetched if last is None else [r for r in fetched if r.offset >= last]
                if not kept:
                    continue
                if last is not None and kept[0].offset > last + 1:
                    await self._add_gap(tp, last + 1, kept[0].offset)
                if tp.topic in handlers:
                    batches.setdefault(tp.topic, {})[tp] = kept
                else:
                    read_offset[tp] = kept[-1].offset
                    for record in kept:
                        message = self._to_message(tp, record)
                        await self.wait_first(self.callback(message), self.suspend_flow.wait())
            if handling is not None:
                await asyncio.shield(handling)  # one fetch handled at a time, in order
                handling = None
            if self._rebalanced_since(generation):
                await self._unread(records, handlers)  # the other topics' records are handled
                continue
            for topic, batch in batches.items():
                expects = cast(App, self.app).batch_positions[topic]
                for tp, kept in list(batch.items()):
                    if await self._past(tp, kept[0].offset, expects, generation):
                        del batch[tp]
            batches = {topic: batch for topic, batch in batches.items() if batch}
            if batches:
                for batch in batches.values():
                    for tp, kept in batch.items():
                        read_offset[tp] = kept[-1].offset
                # Tracked now, handled while the next fetch is read. A fetcher stopping for a
                # shutdown or a rebalance waits for tracked messages (Faust's wait_empty): the
                # shielded handling finishes and Faust commits it.
                tracked = {
                    tp: self._to_message(tp, kept[-1])
                    for batch in batches.values()
                    for tp, kept in batch.items()
                }
                for message in tracked.values():
                    self.track_message(message)
                handling = asyncio.ensure_future(self._handle(handlers, batches, tracked))
            if self._commit_every is not None and self._n_acked >= self._commit_every:
                self._n_acked = 0
                await self.commit()
        if handling is not None:
            await asyncio.shield(handling)

    def _rebalanced_since(self, generation: int) -> bool:
        """Whether a fetch read in `generation` must not be handled: a rebalance began, or has
        not ended, since.

        A fetch of the old assignment handled during the next recovery runs while Faust
        writes the same table stores, for partitions another worker may own already. And
        until a rebalance ends (`app.rebalancing`), Faust has not yet sought the partitions
        to their committed offsets: aiokafka fetches a partition it still assigns from where
        its previous fetch ended, past records that were read but never handled.
        """
        app = self.app
        return not self.flow_active or app.rebalancing or app.consumer_generation_id != generation

    async def _past(self, tp: TP, first: int, expects: NextOffset, generation: int) -> bool:
        """Whether a fetch starts past the first offset the handler's state has not decided; the
        partition is then sought back there and the fetch dropped.

        Faust resumes a partition from its committed offset. Where that is ahead of the state
        restored from the changelogs (offsets reset by hand, a changelog short of its last
        records), the events between would be counted nowhere: the state's own offsets decide.
        """
        expected = expects(tp.partition)
        if expected is None or first <= expected:
            return False
        if self._rewound.get(tp) == (generation, expected):  # sought there: the topic lost them
            log.error("%s: offsets %d to %d are no longer on the topic", tp, expected, first - 1)
            return False
        log.warning("%s: fetched from %d, the state is at %d: reading again", tp, first, expected)
        self._rewound[tp] = (generation, expected)
        await self.seek(tp, expected)
        return True

    async def _unread(
        self, records: Mapping[TP, list[Any]], handlers: dict[str, BatchHandler]
    ) -> None:
        """Drop a fetch of batch topics as if it was never read: its read offsets stay, and
        aiokafka's position goes back to its first record. aiokafka resumes a partition it
        still assigns after a rebalance from its position, not the committed offset, so a
        fetch dropped without this would be a gap in the files and the tables. A partition no
        longer assigned is read from the committed offset by its new owner."""
        for tp, fetched in records.items():
            if tp.topic in handlers and fetched:
                try:
                    await self.seek(tp, fetched[0].offset)
                except IllegalStateError:
                    pass  # no longer assigned

    async def _handle(
        self,
        handlers: dict[str, BatchHandler],
        batches: dict[str, Fetched],
        tracked: Mapping[TP, Message],
    ) -> None:
        for topic, batch in batches.items():
            now = time.monotonic()
            self.app.monitor.stream_inbound_time.update((tp, now) for tp in batch)
            await handlers[topic](
                {tp.partition: [(r.offset, r.value) for r in kept] for tp, kept in batch.items()}
            )
            for tp, kept in batch.items():
                self._ack_offsets(tp, [r.offset for r in kept[:-1]])
                self.ack(tracked[tp])

    def _ack_offsets(self, tp: TP, offsets: list[int]) -> None:
        """`Consumer.ack` for many offsets of one partition at once, without message objects."""
        with ack_lock:
            committed = self._committed_offset[tp]
            index = self._acked_index[tp]
            fresh = [o for o in offsets if (committed is None or o >= committed) and o not in index]
            index.update(fresh)
            self._acked[tp].extend(fresh)
            self._n_acked += len(fresh)


class BatchingTransport(driver.Transport):
    Consumer = BatchingConsumer


class App(faust.App):
    """A Faust app whose `batches` decorator registers a handler of whole fetches of a topic."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_handlers: dict[str, BatchHandler] = {}
        self.batch_positions: dict[str, NextOffset] = {}
        self.before_recovery: list[AssignedCallback] = []

    def batches(
        self, topic: TopicT, expects: NextOffset = lambda partition: None
    ) -> Callable[[BatchHandler], BatchHandler]:
        """Register a handler of whole fetches of `topic`. `expects` gives, per partition, the
        first offset its state has not decided, where it knows: a fetch starting later is read
        again from there."""

        def register(handler: BatchHandler) -> BatchHandler:
            for name in topic.topics:
                self.batch_handlers[name] = handler
                self.batch_positions[name] = expects
            self.topics.add(topic)  # subscribed like an agent's topic, so assigned like one
            return handler

        return register

    def on_assigned_before_recovery(self, callback: AssignedCallback) -> AssignedCallback:
        """Register a callback of a new assignment that runs before Faust recovers its tables."""
        self.before_recovery.append(callback)
        return callback

    async def _on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        for callback in self.before_recovery:
            await callback(assigned)
        await super()._on_partitions_assigned(assigned, generation_id)

    def _new_transport(self) -> BatchingTransport:
        return BatchingTransport(self.conf.broker_consumer, self)
