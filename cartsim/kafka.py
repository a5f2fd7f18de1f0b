"""Kafka administration the services share: creating the topic and naming the log it lives in."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from cartsim.errors import KafkaUnavailableError

TOPIC_ALREADY_EXISTS = 36


async def ensure_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    configs: dict[str, str] | None = None,
    ready_within_s: float = 15.0,
) -> None:
    """Create `topic` unless it exists, then wait until every partition has a leader.

    Brokers may not auto-create topics, and a producer that reads a new topic's metadata before
    its partitions have leaders holds its records until they expire (seen on Tansu: Faust's
    changelog records failed with NotLeaderForPartitionError 15 s after the worker started).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        response = await admin.create_topics(
            [NewTopic(topic, partitions, 1, topic_configs=configs or {})]
        )
        for _, code, message in response.topic_errors:
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise KafkaUnavailableError(
                    f"cannot create topic {topic!r}: {message} (code {code})"
                )
        deadline = time.monotonic() + ready_within_s
        while not _has_leaders(await admin.describe_topics([topic]), partitions):
            if time.monotonic() > deadline:
                raise KafkaUnavailableError(f"topic {topic!r} has partitions without a leader")
            await asyncio.sleep(0.05)
    except KafkaError as exc:
        raise KafkaUnavailableError(
            f"cannot create topic {topic!r} at {bootstrap}: {exc}", exc
        ) from exc
    finally:
        await admin.close()


def _has_leaders(described: list[dict[str, Any]], partitions: int) -> bool:
    found = [p for topic in described if topic["error_code"] == 0 for p in topic["partitions"]]
    return len(found) >= partitions and all(p["leader"] >= 0 for p in found)


async def log_id(bootstrap: str, topic: str) -> str:
    """Eight hex digits naming this topic on this cluster; offsets mean something only within it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
    except KafkaError as exc:
        raise KafkaUnavailableError(
            f"cannot describe the cluster at {bootstrap}: {exc}", exc
        ) from exc
    finally:
        await admin.close()
    identity = f"{cluster.get('cluster_id')}/{topic}".encode()
    return hashlib.blake2b(identity, digest_size=4).hexdigest()


async def high_watermarks(
    bootstrap: str, topic: str, partitions: int, within_s: float = 15.0
) -> dict[int, int]:
    """Each partition's log-end offset at the time of the call, from a fetch response.

    Not `end_offsets()`: Tansu's ListOffsets answers the last record batch's base offset + 1
    where Kafka answers the log-end offset. The high watermark in a fetch response is right, so
    this fetches (a byte at most, from the start) and reads it there.
    """
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=1,
    )
    try:
        await consumer.start()
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        deadline = time.monotonic() + within_s
        while any(consumer.highwater(tp) is None for tp in tps):
            if time.monotonic() > deadline:
                raise KafkaUnavailableError(f"no fetch response for {topic!r} in {within_s:g} s")
            await consumer.getmany(timeout_ms=100, max_records=1)
        return {tp.partition: consumer.highwater(tp) for tp in tps}
    except KafkaError as exc:
        raise KafkaUnavailableError(f"cannot read {topic!r} at {bootstrap}: {exc}", exc) from exc
    finally:
        await consumer.stop()


async def partition_count(bootstrap: str, topic: str) -> int:
    """How many partitions `topic` has; KafkaUnavailableError if it does not exist there.

    Every topic is listed first: a metadata request naming a missing topic creates it on brokers
    that auto-create topics (the embedded broker does).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        if topic not in await admin.list_topics():
            raise KafkaUnavailableError(f"topic {topic!r} does not exist at {bootstrap}")
        described = await admin.describe_topics([topic])
    except KafkaError as exc:
        raise KafkaUnavailableError(f"cannot reach Kafka at {bootstrap}: {exc}", exc) from exc
    finally:
        await admin.close()
    found = [t for t in described if t["topic"] == topic and t["error_code"] == 0]
    if not found or not found[0]["partitions"]:
        raise KafkaUnavailableError(f"topic {topic!r} does not exist at {bootstrap}")
    return len(found[0]["partitions"])
