"""Sources: the store (logs, torn tails), files by content, and a Kafka topic; the store replayed
to a second embedded broker and read back from it."""

from __future__ import annotations

import asyncio
import gzip
import heapq
import random
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from cartsim.broker import EmbeddedBroker
from cartsim.kafka import ensure_topic
from cartsim.producer.catalog import Product
from cartsim.producer.decoding import Event, Rejects
from cartsim.producer.options import Destination, KafkaAddress
from cartsim.producer.replay import Replay
from cartsim.producer.selection import Selection
from cartsim.producer.sources import (
    FileSource,
    KafkaSource,
    SourceError,
    StoreSource,
    merged,
)
from cartsim.producer.targets import open_target
from cartsim.replay_checkpoint import ReplayCheckpoint, ReplayPlan
from cartsim.settings import Settings
from cartsim.storage import Layout
from tests.filled import fill_store
from tests.producer.replaying import Collect, recorded, replay, store


@pytest.fixture(scope="module")
def records(products: tuple[Product, ...]) -> list[tuple[bytes, bytes]]:
    return recorded(products, 5_000)


def ids(records: list[tuple[bytes, bytes]]) -> list[str]:
    return [orjson.loads(value)["event_id"] for _, value in records]


async def read_topic(bootstrap: str, topic: str, expected: int) -> list[Any]:
    """Every record on `topic`, counted rather than trusting the broker's end offsets."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        found: list[Any] = []
        deadline = time.monotonic() + 60
        while len(found) < expected and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(batch)
        return found
    finally:
        await consumer.stop()


async def replay_to_topic(source: StoreSource, address: KafkaAddress, at: int) -> None:
    """The store to `address` through the target layer, as `cartsim replay --retime` does."""
    await ensure_topic(address.bootstrap, address.topic, 3)
    plan = ReplayPlan(source="store", target=str(address))
    job = Replay(source, Selection(), ReplayCheckpoint(plan=plan), retime_ms=at)
    async with open_target(Destination("kafka", address=address), Settings(), None) as target:
        await job.run(target)


def test_the_store_goes_to_a_second_broker_once_keyed_and_in_session_order(
    tmp_path: Path, records: list[tuple[bytes, bytes]]
) -> None:
    source = store(tmp_path, records)
    at = int(time.time() * 1000)
    back = Collect()
    with EmbeddedBroker() as broker:
        address = KafkaAddress(broker.bootstrap, "copy")
        asyncio.run(replay_to_topic(source, address, at))
        on_topic = asyncio.run(read_topic(broker.bootstrap, "copy", len(records)))
        replay(KafkaSource(address), back)  # the topic as a source, merged by event time

    original = {e["event_id"]: e for e in (orjson.loads(v) for _, v in records)}
    sent = [orjson.loads(record.value) for record in on_topic]
    assert len(sent) == len(records) and {e["event_id"] for e in sent} == set(original)
    assert all(r.key == orjson.loads(r.value)["session_id"].encode() for r in on_topic)
    on_topic_order: dict[str, list[str]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for record, event in zip(on_topic, sent, strict=True):
        on_topic_order[event["session_id"]].append(event["event_id"])
        partitions[event["session_id"]].add(record.partition)
    recorded_order: dict[str, list[str]] = defaultdict(list)
    for event in sorted(original.values(), key=lambda e: e["timestamp_unix"]):
        recorded_order[event["session_id"]].append(event["event_id"])
    assert on_topic_order == recorded_order and all(len(p) == 1 for p in partitions.values())

    first = min(e["timestamp_unix"] for e in original.values())
    for event in sent:  # re-timed: the first event now, every gap kept, both fields agree
        was = original[event["event_id"]]
        assert event["timestamp_unix"] - at == was["timestamp_unix"] - first
        stamp = datetime.fromisoformat(event["timestamp"]).timestamp() * 1000
        assert round(stamp) == event["timestamp_unix"]

    from_topic = back.events()
    assert sorted(e["event_id"] for e in from_topic) == sorted(original)
    times = [e["timestamp_unix"] for e in from_topic]
    assert times == sorted(times)


def test_the_store_reads_chosen_logs_and_stops_at_a_torn_tail(
    tmp_path: Path, records: list[tuple[bytes, bytes]]
) -> None:
    fill_store(tmp_path, records[:1000], log="aaaaaaaa")
    fill_store(tmp_path, records[1000:1500], log="bbbbbbbb")
    segment = Layout(tmp_path).segments()[-1]
    data = segment.path.read_bytes()
    segment.path.write_bytes(data + gzip.compress(b'{"a": 1}\n')[:15])  # a member cut short
    both, only_b = Collect(), Collect()
    assert replay(StoreSource(Layout(tmp_path)), both).rejects.count == 0
    replay(StoreSource(Layout(tmp_path), ("bbbbbbbb",)), only_b)
    assert sorted(ids(both.records)) == sorted(ids(records[:1500]))
    assert sorted(ids(only_b.records)) == sorted(ids(records[1000:1500]))


async def write_at(bootstrap: str, topic: str, batches: list[list[tuple[int, bytes]]]) -> None:
    """Each batch of (record timestamp, value) as one record batch on partition 0."""
    await ensure_topic(bootstrap, topic, 1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for batch in batches:
            builder = producer.create_batch()
            for at, value in batch:
                builder.append(key=None, value=value, timestamp=at)
            await (await producer.send_batch(builder, topic, partition=0))
    finally:
        await producer.stop()


async def broker_answer(bootstrap: str, topic: str, at: int) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        found = (await consumer.offsets_for_times({tp: at}))[tp]
        return None if found is None else found.offset
    finally:
        await consumer.stop()


def test_a_topic_is_read_from_the_first_record_written_at_a_time(
    records: list[tuple[bytes, bytes]],
) -> None:
    values = [value for _, value in records[:40]]
    stamps = [1_000 + 10 * n for n in range(40)]
    stamps[25] = 1_100  # written late: Kafka reads on from the first record at the time
    at = stamps[20]
    written = list(zip(stamps, values, strict=True))
    batches = [written[n : n + 7] for n in range(0, 40, 7)]
    with EmbeddedBroker() as broker:
        asyncio.run(write_at(broker.bootstrap, "timed", batches))
        # the embedded broker answers the first offset for any instant; Kafka would answer 20
        assert asyncio.run(broker_answer(broker.bootstrap, "timed", at)) == 0
        address = KafkaAddress(broker.bootstrap, "timed")
        since, everything = Collect(), Collect()
        replay(KafkaSource(address, from_ms=at), since)
        replay(KafkaSource(address), everything)
        with pytest.raises(SourceError, match=r"\(records written since .*\) holds no events"):
            replay(KafkaSource(address, from_ms=stamps[-1] + 1), Collect())
    assert sorted(ids(since.records)) == sorted(ids(records[20:40]))
    assert sorted(ids(everything.records)) == sorted(ids(records[:40]))


@pytest.mark.parametrize("late", [0, 40])
def test_streams_merge_as_a_heap_merge_by_time_would(late: int) -> None:
    draw = random.Random(late)
    streams: list[list[Event]] = []
    for index in range(3):
        times = sorted(draw.randrange(100_000) for _ in range(2_000))
        for held in draw.sample(range(2_000), late):
            times[held] -= draw.randrange(5_000)  # held back: older than the events before it
        streams.append([Event(t * 3 + index, b"k", b"%d" % index, "view_item") for t in times])

    def batches(events: list[Event]) -> list[list[Event]]:
        cuts = sorted(draw.sample(range(1, len(events)), 9))
        return [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]

    got = [event for batch in merged([iter(batches(s)) for s in streams]) for event in batch]
    assert got == list(heapq.merge(*streams, key=lambda event: event.ts))


@pytest.mark.parametrize("name", ["events.jsonl", "events.jsonl.gz", "events.data"])
def test_a_file_is_read_plain_or_gzip_by_its_content(
    tmp_path: Path, name: str, records: list[tuple[bytes, bytes]]
) -> None:
    lines = b"\n".join(value for _, value in records[:300]) + b"\n"
    path = tmp_path / name
    path.write_bytes(gzip.compress(lines) if name != "events.jsonl" else lines)
    events = [event for batch in FileSource(path).batches(Rejects()) for event in batch]
    assert [event.value for event in events] == [value for _, value in records[:300]]
