from __future__ import annotations

import asyncio
import socket

from cartsim.broker import EmbeddedBroker
from cartsim.kafka import ensure_topic, log_id


def test_the_embedded_broker_starts_serves_and_stops_by_pid() -> None:
    broker = EmbeddedBroker().start()
    process = broker.process
    assert process is not None
    try:
        asyncio.run(ensure_topic(broker.bootstrap, "t", 3))
        asyncio.run(ensure_topic(broker.bootstrap, "t", 3))  # idempotent
        first = asyncio.run(log_id(broker.bootstrap, "t"))
        assert first == asyncio.run(log_id(broker.bootstrap, "t"))
        assert first != asyncio.run(log_id(broker.bootstrap, "other"))
    finally:
        broker.stop()
    assert process.returncode is not None
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", broker.port)) != 0


def test_each_broker_life_is_a_different_log() -> None:
    """Memory storage: a restarted broker's offsets begin again, so its log id must differ."""
    ids = set()
    for _ in range(2):
        with EmbeddedBroker() as broker:
            ids.add(asyncio.run(log_id(broker.bootstrap, "cart-events")))
    assert len(ids) == 2
