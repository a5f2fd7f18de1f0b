"""The pipeline under faults: a faulty stream and two SIGKILLs of the worker, then the files,
/cart/statistics and the dead-letter topic checked against the producer's truth file."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import time
from collections import Counter
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from cartsim.dead_letters import DeadLetter
from cartsim.truth import ExpectedResults, InjectedFault, truth_line
from tests.conftest import Services, wait_until
from tests.stored import stored_id_counts

COUNT = 200_000
FAULTS = ("--duplicates", "0.01", "--late", "0.02:5s", "--reorder", "0.01", "--malformed", "0.001")
ABANDON_AFTER_S = 20  # batch-mode event time spans minutes: carts do get abandoned


async def dead_letters(bootstrap: str, topic: str, partitions: int) -> list[tuple[Any, bytes]]:
    """Every record of the dead-letter topic, read until the fetches' high watermarks."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: list[tuple[Any, bytes]] = []
        idle = 0
        while idle < 5:
            batch = await consumer.getmany(timeout_ms=500)
            idle = 0 if batch else idle + 1
            for records in batch.values():
                found.extend((r.headers, r.value) for r in records)
        return found
    finally:
        await consumer.stop()


def statistics(services: Services) -> dict[str, Any]:
    try:
        return dict(httpx.get(f"{services.api_url}/cart/statistics", timeout=10).json())
    except httpx.HTTPError:
        return {}


@pytest.mark.slow
def test_a_faulty_stream_and_two_kills_give_the_truth_files_results(services: Services) -> None:
    services.env["CARTSIM_ABANDON_AFTER_S"] = str(ABANDON_AFTER_S)
    truth = services.tmp_path / "truth.jsonl"
    worker = services.start("worker")
    services.start("api")
    producer = services.start(
        "produce", "--count", str(COUNT), "--rate", "12000", "--seed", "13", *FAULTS,
        "--truth", str(truth),
    )  # fmt: skip
    for pause in (2.5, 4.0):
        time.sleep(pause)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        worker = services.start("worker")
    assert producer.wait(900) == 0
    lines = [truth_line.validate_json(line) for line in truth.read_bytes().splitlines()]
    expected = lines[-1]
    assert isinstance(expected, ExpectedResults) and expected.total_events == COUNT
    faults = [line for line in lines if isinstance(line, InjectedFault)]
    injected = Counter(f.fault for f in faults)
    assert min(injected.values()) > 100, injected

    # the files: every clean event exactly once, no duplicate and nothing malformed
    wait_until(lambda: len(stored_id_counts(services.data_dir)) >= COUNT, 600, "stored events")
    counts = stored_id_counts(services.data_dir)
    assert len(counts) == COUNT and set(counts.values()) == {1}

    # /cart/statistics: the truth file's expected results, and each fault counted
    want = {
        "total_events": expected.total_events,
        "event_types": expected.event_types,
        "sources": expected.sources,
        "devices": expected.devices,
        "funnel": expected.funnel.model_dump(),
        "revenue": [expected.revenue_vnd, expected.orders, expected.cancelled_orders],
        "abandoned": expected.abandoned_sessions,
        "faults": {
            "dead_letters": injected["malformed"],
            "duplicates": injected["duplicate"],
            "too_late": 0,
        },
    }

    def served() -> dict[str, Any]:
        body = statistics(services)
        if not body:
            return {}
        funnel, revenue = body["funnel"], body["revenue"]
        return {
            "total_events": body["total_events"],
            "event_types": body["event_types"],
            "sources": body["sources"],
            "devices": body["devices"],
            "funnel": {k: funnel[k] for k in expected.funnel.model_dump()},
            "revenue": [revenue["revenue_vnd"], revenue["orders"], revenue["cancelled_orders"]],
            "abandoned": body["abandonment"]["abandoned_sessions"],
            "faults": body["faults"],
        }

    got: dict[str, Any] = {}

    def agrees() -> bool:
        nonlocal got
        got = served()
        return got == want

    deadline = time.monotonic() + 300
    while not agrees():
        if time.monotonic() > deadline:
            assert got == want
        time.sleep(0.5)

    # the dead-letter topic: exactly the malformed records (a redelivery may repeat one)
    letters = asyncio.run(
        dead_letters(services.env["CARTSIM_KAFKA_BOOTSTRAP"], "cart-events-dlq", 4)
    )
    by_source = {}
    for headers, value in letters:
        letter = DeadLetter.from_headers(list(headers))
        assert by_source.setdefault((letter.partition, letter.offset), value) == value
        assert letter.reason
    sent = Counter(f.sha256 for f in faults if f.fault == "malformed")
    assert Counter(hashlib.sha256(v).hexdigest() for v in by_source.values()) == sent
    assert {p for p, _ in by_source} == {f.partition for f in faults if f.fault == "malformed"}
    assert orjson.loads(truth.read_bytes().splitlines()[0])["kind"] == "run"
