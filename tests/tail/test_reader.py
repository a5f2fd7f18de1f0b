"""The tail reader on the embedded broker: where it starts, what it selects, no group joined."""

from __future__ import annotations

import asyncio

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from cartsim.broker import EmbeddedBroker
from cartsim.kafka import ensure_topic
from cartsim.producer.partitions import partition_for
from cartsim.tail.reader import Record, Selection, partitions_to_read, records

TOPIC = "tail-test"


def event(index: int, kind: str, session: str) -> bytes:
    return orjson.dumps({"event_id": f"e{index}", "event_type": kind, "session_id": session})


async def send_batches(bootstrap: str, values: list[tuple[str, bytes]]) -> None:
    """Several records per batch on one partition: the case where the embedded broker's
    ListOffsets answer (the last batch's base offset + 1) is wrong."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        batch = producer.create_batch()
        for key, value in values:
            batch.append(key=key.encode(), value=value, timestamp=None)
        await (await producer.send_batch(batch, TOPIC, partition=0))
    finally:
        await producer.stop()


def test_it_starts_at_the_true_end_and_reads_only_what_comes_after(
    broker: EmbeddedBroker,
) -> None:
    async def scenario() -> tuple[list[Record], list[Record], list[str]]:
        await ensure_topic(broker.bootstrap, TOPIC, 1)
        await send_batches(
            broker.bootstrap, [("s1", event(i, "view_item", "s1")) for i in range(5)]
        )
        stop, positioned = asyncio.Event(), asyncio.Event()
        live: list[Record] = []

        async def follow() -> None:
            async for batch in records(
                broker.bootstrap, TOPIC, Selection(), from_beginning=False, stop=stop
            ):
                positioned.set()
                live.extend(batch)
                if len(live) >= 3:
                    stop.set()

        reader = asyncio.create_task(follow())
        await asyncio.wait_for(positioned.wait(), 30)
        new = [("s2", event(i, "add_to_cart", "s2")) for i in range(5, 8)]
        await send_batches(broker.bootstrap, new)
        await asyncio.wait_for(reader, 30)

        everything: list[Record] = []
        stop_all = asyncio.Event()
        async for batch in records(
            broker.bootstrap, TOPIC, Selection(), from_beginning=True, stop=stop_all
        ):
            everything.extend(batch)
            if len(everything) >= 8:
                stop_all.set()
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            groups = [group for group, _ in await admin.list_consumer_groups()]
        finally:
            await admin.close()
        return live, everything, groups

    live, everything, groups = asyncio.run(scenario())
    assert [orjson.loads(r.value)["event_id"] for r in live] == ["e5", "e6", "e7"]
    assert [r.offset for r in live] == [5, 6, 7]
    assert [r.offset for r in everything] == list(range(8))
    assert groups == [], "the reader joined a consumer group"


def test_a_selection_matches_type_and_session() -> None:
    view = Record(0, 1, b"s1", event(1, "view_item", "s1"), 0)
    buy = Record(0, 2, b"s2", event(2, "purchase", "s2"), 0)
    assert Selection().wants(view) and Selection().wants(buy)
    purchases = Selection(frozenset({"purchase"}))
    assert not purchases.wants(view) and purchases.wants(buy)
    assert Selection(session="s1").wants(view) and not Selection(session="s1").wants(buy)
    assert not purchases.wants(Record(0, 3, None, b"not json", 0))


def test_a_session_is_read_from_the_one_partition_its_key_hashes_to() -> None:
    assert partitions_to_read({3, 1, 0, 2}, None) == [0, 1, 2, 3]
    session = "sess_94d753621e6f6621"
    assert partitions_to_read({0, 1, 2, 3}, session) == [partition_for(session.encode(), 4)]
