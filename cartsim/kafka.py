"""Kafka administration the services share: creating the topic and naming the log it lives in."""

from __future__ import annotations

import hashlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from cartsim.errors import KafkaUnavailableError

TOPIC_ALREADY_EXISTS = 36


async def ensure_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create `topic` with `partitions` unless it exists; brokers may not auto-create."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        response = await admin.create_topics([NewTopic(topic, partitions, 1)])
    except KafkaError as exc:
        raise KafkaUnavailableError(
            f"cannot create topic {topic!r} at {bootstrap}: {exc}", exc
        ) from exc
    finally:
        await admin.close()
    for _, code, message in response.topic_errors:
        if code not in (0, TOPIC_ALREADY_EXISTS):
            raise KafkaUnavailableError(f"cannot create topic {topic!r}: {message} (code {code})")


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
