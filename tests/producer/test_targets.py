"""File and stdout targets write one JSON event per line, gzip by file name."""

from __future__ import annotations

import asyncio
import gzip
import io
from pathlib import Path

import orjson
import pytest

from cartsim.producer.catalog import Product
from cartsim.producer.targets import FileTarget, StdoutTarget

RECORDS = [(b"sess_1", b'{"n":1}'), (b"sess_2", b'{"n":"\xc4\x91"}')]


async def write_twice(target: FileTarget | StdoutTarget) -> int:
    async with target as opened:
        return await opened.send(RECORDS) + await opened.send(RECORDS[:1]) + await opened.send([])


@pytest.mark.parametrize("name", ["events.jsonl", "events.jsonl.gz"])
def test_file_target_writes_json_lines(tmp_path: Path, name: str) -> None:
    path = tmp_path / "out" / name
    assert asyncio.run(write_twice(FileTarget(path))) == 3
    data = path.read_bytes()
    if name.endswith(".gz"):
        assert data[:2] == b"\x1f\x8b"
        data = gzip.decompress(data)
    assert data == b'{"n":1}\n{"n":"\xc4\x91"}\n{"n":1}\n'


def test_gzip_output_is_byte_stable(tmp_path: Path) -> None:
    asyncio.run(write_twice(FileTarget(tmp_path / "a.gz")))
    asyncio.run(write_twice(FileTarget(tmp_path / "b.gz")))
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_stdout_target_writes_json_lines() -> None:
    stream = io.BytesIO()
    assert asyncio.run(write_twice(StdoutTarget(stream))) == 3
    assert stream.getvalue().count(b"\n") == 3


def test_kafka_target_delivers_every_record_keyed_by_session(
    products: tuple[Product, ...],
) -> None:
    from itertools import islice

    from cartsim.broker import EmbeddedBroker
    from cartsim.kafka import ensure_topic
    from cartsim.producer.journeys import steady
    from cartsim.producer.partitions import partition_for
    from cartsim.producer.targets import KafkaTarget
    from tests.topic import topic_records

    records = list(islice(steady(4, 100.0, products, now_ms=1_700_000_000_000), 9_000))

    async def send() -> int:
        await ensure_topic(broker.bootstrap, "targets-test", 3)
        async with KafkaTarget(broker.bootstrap, "targets-test") as target:
            for start in range(0, len(records), 4_000):  # three calls, two left in flight
                await target.send(records[start : start + 4_000])
        return target.sent

    with EmbeddedBroker() as broker:
        assert asyncio.run(send()) == 9_000
        on_topic = topic_records(broker.bootstrap, "targets-test", 9_000)
    events = [orjson.loads(record.value) for record in on_topic]
    assert sorted(e["event_id"] for e in events) == sorted(
        orjson.loads(v)["event_id"] for _, v in records
    )
    assert all(r.key == e["session_id"].encode() for r, e in zip(on_topic, events, strict=True))
    # placed as the Java client's default partitioner places keys
    assert all(r.partition == partition_for(r.key, 3) for r in on_topic)
    assert {r.partition for r in on_topic} == {0, 1, 2}


def test_kafka_target_sends_lines_in_order_per_partition_in_many_batches(
    products: tuple[Product, ...],
) -> None:
    """Lines are split into records in C and cut into batches that fit: small batches here, so
    every partition gets many; each partition holds its records in the order they were sent."""
    from datetime import datetime

    from cartsim.broker import EmbeddedBroker
    from cartsim.kafka import ensure_topic
    from cartsim.moments import VIETNAM
    from cartsim.producer.config import JourneyConfig
    from cartsim.producer.emit import emit
    from cartsim.producer.journeys import backfill_schedule
    from cartsim.producer.lines import Reader
    from cartsim.producer.partitions import partition_for
    from cartsim.producer.pool import runner
    from cartsim.producer.targets import KafkaTarget
    from tests.topic import topic_records

    start = datetime(2024, 11, 11, 19, tzinfo=VIETNAM)
    end = start.replace(hour=23)
    config = JourneyConfig()
    with runner(1, 5, products, config) as making:
        sent = Reader(backfill_schedule(start, end, 6_000).lines(making)).take(6_000)

    async def send() -> int:
        await ensure_topic(broker.bootstrap, "lines-test", 3)
        with runner(2, 5, products, config) as making:
            lines = Reader(backfill_schedule(start, end, 6_000).lines(making))
            async with KafkaTarget(broker.bootstrap, "lines-test", batch_bytes=20_000) as target:
                await emit(lines, target, count=6_000, chunk=2_500)
        return target.sent

    with EmbeddedBroker() as broker:
        assert asyncio.run(send()) == 6_000
        on_topic = topic_records(broker.bootstrap, "lines-test", 6_000)
    for partition in range(3):
        expected = [v for k, v in sent if partition_for(k, 3) == partition]
        assert [r.value for r in on_topic if r.partition == partition] == expected
        assert len(expected) > 1_000
