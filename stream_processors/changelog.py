"""Table changelog records, sent as whole record batches, each partition's last record alone.

Why not Faust's `Table.send_changelog`: per record it makes a future, a buffer entry, a publish
and an aiokafka append, about 50 µs; once events arrived in whole fetches it was the worker's
largest cost. A batch handler writes a few hundred records per changelog partition at once, so
they go as aiokafka record batches, and the handler awaits their delivery before its events are
acknowledged: a committed offset never runs ahead of the tables' changelogs.

Why the last record alone: Tansu answers ListOffsets(latest) with the base offset of the last
record batch + 1 (shared TANSU.md), so Faust's recovery, which reads a changelog up to that
answer, stops short of a multi-record last batch. With the last record in a batch of its own
the answer is exact. Faust's `producer_max_batch_size=1` gets the same by a request per record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence

from aiokafka import AIOKafkaProducer

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
            # Tansu now and then leaves a produce request unanswered (README): retry after 15 s,
            # not aiokafka's 40 s; a record sent twice is harmless in a compacted changelog.
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
            for batch in self._batches(records[:-1]):
                deliveries.append(await self._send(batch, topic, partition))
            deliveries.append(await self._send([records[-1]], topic, partition))
        await asyncio.gather(*deliveries)

    def _batches(self, records: Sequence[Change]) -> Iterable[list[Change]]:
        """Split records so each batch stays under the producer's batch size."""
        batch: list[Change] = []
        size = 0
        for key, value in records:
            length = len(key) + (len(value) if value is not None else 0) + 32
            if batch and size + length > BATCH_BYTES - 1024:
                yield batch
                batch, size = [], 0
            batch.append((key, value))
            size += length
        if batch:
            yield batch

    async def _send(
        self, records: list[Change], topic: str, partition: int
    ) -> asyncio.Future[object]:
        builder = self.producer.create_batch()
        for key, value in records:
            if builder.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a changelog record of {len(value or b'')} B exceeds a batch")
        return await self.producer.send_batch(builder, topic, partition=partition)
