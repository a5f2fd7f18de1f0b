"""Whole fetches of a topic handed to one coroutine, where Faust's per-event path is the cost.

Faust delivers every record on its own: two tasks per record (`wait_first(callback,
suspend_flow)`), a lock, a decode, a queue, sensors, then the stream's bookkeeping. Measured
here (2 cores, the embedded broker, 300,000 events already on the topic): a no-op agent over
`stream.take_events` drains about 10,000 events/s; the same fetches handed over whole, about
110,000/s. So for the events topic this consumer gives each fetch, as a mapping of partition to
records, to one handler.

Everything else stays Faust's: group membership, assignment, table recovery, flow control,
commits. The records are tracked and acknowledged as a stream's are, after the handler returns,
so Faust commits only what was handled, waits for a batch in flight before it hands partitions
over in a rebalance, and on shutdown lets the batch finish (it is shielded from the fetcher's
cancellation) instead of abandoning it half done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import faust
from faust.transport.drivers import aiokafka as driver
from faust.types import Message, ServiceT, TopicT

BatchHandler = Callable[[dict[int, list[Message]]], Awaitable[None]]


class BatchingConsumer(driver.Consumer):
    """Faust's aiokafka consumer, with a fetch loop that batches the app's batch topics."""

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        handlers = cast(App, self.app).batch_handlers
        read_offset = self._read_offset
        stopped = cast(Any, fetcher)._stopped.is_set
        handling: asyncio.Future[None] | None = None  # the previous fetch, still being handled
        while not (self._stopped.is_set() or stopped()):
            records, active = await self._wait_next_records(timeout=1.0)
            if not records or self.should_stop:
                continue
            if not self.flow_active:  # fetched as a rebalance began: read them again later
                await self.perform_seek()
                continue
            generation = self.app.consumer_generation_id
            batches: dict[str, dict[int, list[Message]]] = {}
            for tp, fetched in records.items():
                if not self.flow_active or self.app.consumer_generation_id != generation:
                    break  # a rebalance began: Faust seeks back to the committed offsets
                if active is not None and tp not in active and tp not in self._buffered_partitions:
                    continue
                last = read_offset[tp]
                messages = [
                    self._to_message(tp, record)
                    for record in fetched
                    if last is None or record.offset >= last
                ]
                if not messages:
                    continue
                if last is not None and messages[0].offset > last + 1:
                    await self._add_gap(tp, last + 1, messages[0].offset)
                read_offset[tp] = messages[-1].offset
                if tp.topic in handlers:
                    batches.setdefault(tp.topic, {})[tp.partition] = messages
                else:
                    for message in messages:
                        await self.wait_first(self.callback(message), self.suspend_flow.wait())
            if handling is not None:
                await asyncio.shield(handling)  # one fetch handled at a time, in order
                handling = None
            if batches:
                # Tracked now, handled while the next fetch is read. A fetcher stopping for a
                # shutdown or a rebalance waits for tracked records (Faust's wait_empty): the
                # shielded handling finishes and Faust commits it.
                for batch in batches.values():
                    for messages in batch.values():
                        for message in messages:
                            self.track_message(message)
                handling = asyncio.ensure_future(self._handle(handlers, batches))
            if self._commit_every is not None and self._n_acked >= self._commit_every:
                self._n_acked = 0
                await self.commit()
        if handling is not None:
            await asyncio.shield(handling)

    async def _handle(
        self, handlers: dict[str, BatchHandler], batches: dict[str, dict[int, list[Message]]]
    ) -> None:
        for topic, batch in batches.items():
            self.app.monitor.stream_inbound_time.update(
                (messages[0].tp, time.monotonic()) for messages in batch.values()
            )
            await handlers[topic](batch)
            for messages in batch.values():
                for message in messages:
                    self.ack(message)


class BatchingTransport(driver.Transport):
    Consumer = BatchingConsumer


class App(faust.App):
    """A Faust app whose `batches` decorator registers a handler of whole fetches of a topic."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_handlers: dict[str, BatchHandler] = {}

    def batches(self, topic: TopicT) -> Callable[[BatchHandler], BatchHandler]:
        def register(handler: BatchHandler) -> BatchHandler:
            for name in topic.topics:
                self.batch_handlers[name] = handler
            self.topics.add(topic)  # subscribed like an agent's topic, so assigned like one
            return handler

        return register

    def _new_transport(self) -> BatchingTransport:
        return BatchingTransport(self.conf.broker_consumer, self)
