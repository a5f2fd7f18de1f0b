"""Reading a topic back from the broker, for assertions about what was produced."""

from __future__ import annotations

import asyncio
import time

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord


async def read_records(
    bootstrap: str, topic: str, expected: int, within_s: float
) -> list[ConsumerRecord[bytes, bytes]]:
    """Records on `topic` from the start of every partition, until `expected` are read.

    Counts what it reads rather than trusting end offsets, which the embedded broker gets wrong.
    Without a group id the consumer is given every partition and commits nothing.
    """
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        read: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + within_s
        while len(read) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                read.extend(records)
        return read
    finally:
        await consumer.stop()


async def read_event_ids(bootstrap: str, topic: str, expected: int, within_s: float) -> list[str]:
    """The event ids of `read_records`."""
    records = await read_records(bootstrap, topic, expected, within_s)
    return [orjson.loads(record.value)["event_id"] for record in records]


def topic_records(
    bootstrap: str, topic: str, expected: int, within_s: float = 60
) -> list[ConsumerRecord[bytes, bytes]]:
    return asyncio.run(read_records(bootstrap, topic, expected, within_s))


def topic_event_ids(bootstrap: str, topic: str, expected: int, within_s: float = 60) -> list[str]:
    return asyncio.run(read_event_ids(bootstrap, topic, expected, within_s))
