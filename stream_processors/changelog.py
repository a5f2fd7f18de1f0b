"""Table changelog records, sent as whole record batches, each partition's last record alone.

Why not Faust's `Table.send_changelog`: per record it makes a future, a buffer entry, a publish
and an aiokafka append, about 50 µs, which would be the largest cost of a worker that handles
events in whole fetches. A batch handler writes a few hundred records per changelog partition
at once, so they go as aiokafka record batches, and the handler awaits their delivery before
its events are acknowledged: a committed offset never runs ahead of the tables' changelogs.

Why the last record alone: Tansu answers ListOffsets(latest) with the base offset of the last
record batch + 1 (Kafka answers the log-end offset), so Faust's recovery, which reads a
changelog up to that answer, stops short of a multi-record last batch. With the last record in
a batch of its own the answer is exact. Faust's `producer_max_batch_size=1` gets the same by a
request per record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder

from cartsim.dead_letters import DeadLetter

Change = tuple[bytes, bytes | None]  # key, value (None deletes the key)
BATCH_BYTES = 1 << 20


class ChangelogWriter:
    """One producer for every table's changelog, owned by the worker's batch handler."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            max_batch_size=BATCH_BYTES,
            max_request_size=BATCH_BYTES + 4096,
            # An answer not read in 15 s (not aiokafka's 40 s) is given up and the batch sent
            # again, as the Faust producer does; a record sent twice is harmless in a compacted
            # changelog.
            request_timeout_ms=15_000,
        )

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def send(self, changes: Mapping[tuple[str, int], Sequence[Change]]) -> None:
        """Send every (topic, partition)'s changes in order and wait until all are stored."""
        deliveries = []
        for (topic, partition), records in changes.items():
            if not records:
                continue
            builder = self.producer.create_batch()
            for key, value in records[:-1]:
                if builder.append(key=key, value=value, timestamp=None) is None:  # full
                    deliveries.append(await self._send(builder, topic, partition))
                    builder = self._starting_with(key, value)
            if builder.record_count():
                deliveries.append(await self._send(builder, topic, partition))
            deliveries.append(await self._send(self._starting_with(*records[-1]), topic, partition))
        await asyncio.gather(*deliveries)

    async def send_dead_letters(
        self, topic: str, letters: Sequence[tuple[DeadLetter, bytes]]
    ) -> None:
        """Each record that was not a cart event, unchanged, to the partition of the topic
        `topic` it came from, the reason in its headers; waits until all are stored."""
        deliveries = [
            await self.producer.send(
                topic, value=value, partition=letter.partition, headers=letter.headers()
            )
            for letter, value in letters
        ]
        await asyncio.gather(*deliveries)

    def _starting_with(self, key: bytes, value: bytes | None) -> BatchBuilder:
        """A new batch with this record first (a record must fit in an empty batch)."""
        builder = self.producer.create_batch()
        if builder.append(key=key, value=value, timestamp=None) is None:
            raise ValueError(f"a changelog record of {len(value or b'')} B exceeds a batch")
        return builder

    async def _send(self, builder: BatchBuilder, topic: str, partition: int) -> asyncio.Future:
        return await self.producer.send_batch(builder, topic, partition=partition)
