"""The batching consumer on its own: a failing handler must stop the worker, not stall it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from cartsim.broker import EmbeddedBroker
from cartsim.kafka import ensure_topic

APP = Path(__file__).with_name("failing_app.py")


async def produce(bootstrap: str, count: int) -> None:
    await ensure_topic(bootstrap, "events", 2)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for i in range(count):
            await producer.send("events", b"{}", key=b"k%d" % i)
    finally:
        await producer.stop()


def test_a_failing_handler_crashes_the_worker_with_the_reason(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    asyncio.run(produce(broker.bootstrap, 10))
    env = {
        **os.environ,
        "TEST_BOOTSTRAP": broker.bootstrap,
        "TEST_APP_ID": f"failing-{uuid.uuid4().hex[:8]}",
    }
    done = subprocess.run(
        [sys.executable, str(APP), "worker", "--loglevel", "warn"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "handler failed on" in done.stdout + done.stderr
