"""The changelog writer on the embedded broker: every record stored, in order, and a log end that
Tansu's ListOffsets reports exactly (which Faust's recovery relies on)."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from cartsim.broker import EmbeddedBroker
from cartsim.kafka import ensure_topic
from cartsim.stream_processors.changelog import ChangelogWriter

TOPIC = "table-changelog"


async def write_and_read(bootstrap: str, counts: dict[int, int]) -> tuple[dict, dict]:
    await ensure_topic(bootstrap, TOPIC, len(counts), {"cleanup.policy": "compact"})
    writer = ChangelogWriter(bootstrap)
    await writer.start()
    try:
        value = b"x" * 2_000  # 3,000 records: several full batches, then the last one alone
        await writer.send(
            {(TOPIC, p): [(b"k%d" % i, value) for i in range(n)] for p, n in counts.items()}
        )
    finally:
        await writer.stop()
    tps = [TopicPartition(TOPIC, p) for p in counts]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        keys: dict[int, list[bytes]] = {p: [] for p in counts}
        while sum(map(len, keys.values())) < sum(counts.values()):
            for tp, records in (await consumer.getmany(timeout_ms=1_000)).items():
                keys[tp.partition].extend(r.key for r in records)
    finally:
        await consumer.stop()
    return {tp.partition: end for tp, end in ends.items()}, keys


def test_records_arrive_in_order_and_the_log_end_is_exact(broker: EmbeddedBroker) -> None:
    counts = {0: 3_000, 1: 1}
    ends, keys = asyncio.run(write_and_read(broker.bootstrap, counts))
    assert ends == counts
    assert keys == {p: [b"k%d" % i for i in range(n)] for p, n in counts.items()}
