"""The events topic read like `kcat -C`: every partition assigned, no consumer group.

Without a group the reader commits nothing and joins no group, so it never disturbs the workers'
assignment, and any number of readers can run at once. Starting at the end means the high
watermark of a fetch response (`cartsim.kafka.high_watermarks`), not `seek_to_end`, whose
ListOffsets answer the embedded broker gets wrong (the last record batch's base offset + 1, which
would replay part of that batch).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Collection
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from cartsim.errors import CartsimError, KafkaUnavailableError
from cartsim.kafka import high_watermarks
from cartsim.producer.partitions import partition_for


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int


@dataclass(frozen=True)
class Selection:
    """Which events to show: of these types (any when empty), of this session (any when None)."""

    event_types: frozenset[str] = field(default_factory=frozenset)
    session: str | None = None

    def wants(self, record: Record) -> bool:
        if self.session is not None and record.key != self.session.encode():
            return False
        if not self.event_types:
            return True
        try:
            return orjson.loads(record.value).get("event_type") in self.event_types
        except (orjson.JSONDecodeError, AttributeError):
            return False  # not one of our events: it has no type to match


def partitions_to_read(all_partitions: Collection[int], session: str | None) -> list[int]:
    """Every partition; for one session only the partition its key hashes to, since the topic is
    keyed by session with Kafka's default (murmur2) partitioner."""
    ordered = sorted(all_partitions)
    if session is None:
        return ordered
    return [ordered[partition_for(session.encode(), len(ordered))]]


async def records(
    bootstrap: str,
    topic: str,
    selection: Selection,
    *,
    from_beginning: bool,
    stop: asyncio.Event,
) -> AsyncGenerator[list[Record], None]:
    """The selected records of each fetch, in the order of their timestamps, until `stop`;
    first an empty list, once every partition is positioned (a caller may now produce and be
    sure to read what it sends)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        await consumer.start()
        known = await consumer.topics()
        if topic not in known:
            raise CartsimError(f"no topic {topic!r} at {bootstrap} (topics: {sorted(known)})")
        found = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions_to_read(found, selection.session)]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            ends = await high_watermarks(bootstrap, topic, max(found) + 1)
            for tp in tps:
                consumer.seek(tp, ends[tp.partition])
        yield []
        while not stop.is_set():
            fetched = await consumer.getmany(timeout_ms=200)
            batch = [
                Record(tp.partition, r.offset, r.key, r.value, r.timestamp)
                for tp, received in fetched.items()
                for r in received
            ]
            batch.sort(key=lambda r: (r.timestamp_ms, r.partition, r.offset))
            wanted = [record for record in batch if selection.wants(record)]
            if wanted:
                yield wanted
    except KafkaError as exc:
        raise KafkaUnavailableError(f"cannot read {topic!r} at {bootstrap}: {exc}", exc) from exc
    finally:
        await consumer.stop()
