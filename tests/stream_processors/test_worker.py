"""The worker on a real embedded broker: tables that survive restarts, kills and rebalances."""

from __future__ import annotations

import asyncio
import random
import signal
import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

from cartsim.broker import EmbeddedBroker
from tests.conftest import Services, wait_until
from tests.stored import stored_id_counts
from tests.tables import mismatches, served, stored_count

ABANDON_AFTER_S = 20  # event time; batch-mode timestamps span minutes, so carts do get abandoned


def settle(services: Services, expected_events: int, timeout: float = 120) -> None:
    """Wait until every event is in the files and the tables agree with a recount of them."""
    data = services.data_dir
    wait_until(lambda: stored_count(data) >= expected_events, timeout, "events in the files")
    problems: list[str] = []

    def agree() -> bool:
        nonlocal problems
        problems = mismatches(data, ABANDON_AFTER_S * 1000)
        return not problems

    deadline = time.monotonic() + timeout
    while not agree():
        if time.monotonic() > deadline:
            pytest.fail(f"tables disagree with the files: {problems}")
        time.sleep(0.5)
    assert stored_count(data) == expected_events


@pytest.fixture
def worker_env(services: Services) -> Services:
    services.env["CARTSIM_ABANDON_AFTER_S"] = str(ABANDON_AFTER_S)
    return services


def produce(services: Services, count: int, seed: int) -> None:
    result = services.run("produce", "--count", str(count), "--seed", str(seed))
    assert result.returncode == 0, result.stderr


def run_and_stop(services: Services, count: int, seed: int) -> None:
    """A worker handles `count` new events until its tables agree with the files, then stops."""
    worker = services.start("worker")
    produce(services, count, seed=seed)
    settle(services, count)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0


def test_tables_come_back_exactly_after_a_restart(worker_env: Services) -> None:
    services = worker_env
    first = services.start("worker")
    produce(services, 20_000, seed=1)
    settle(services, 20_000)
    assert served(services.data_dir)["abandoned"], "the stream must abandon some carts"

    first.send_signal(signal.SIGTERM)
    assert first.wait(30) == 0
    services.start("worker")  # recovers the tables from their changelogs
    produce(services, 10_000, seed=2)
    settle(services, 30_000)


def test_two_workers_split_the_partitions_and_agree(worker_env: Services) -> None:
    services = worker_env
    services.start("worker")
    services.start("worker")
    wait_until(
        lambda: sorted(len(w.partitions) for w in served(services.data_dir)["workers"]) == [2, 2],
        60,
        "two workers with two partitions each",
    )
    produce(services, 30_000, seed=3)
    settle(services, 30_000)


@pytest.mark.slow
def test_a_worker_stalled_past_its_session_rejoins_and_the_tables_still_agree(
    worker_env: Services,
) -> None:
    """A stopped process stands for an event loop held up longer than the 2 s session: the
    group drops it and gives its partitions to the other worker, which waits for their locks;
    resumed, the stalled one finishes the fetch it was handling before it learns that, lets
    go, then rejoins and takes partitions back. Two rebalances, one of them with a writer that
    does not know it lost its partitions."""
    services = worker_env
    stalled = services.start("worker")
    services.start("worker")
    wait_until(
        lambda: sorted(len(w.partitions) for w in served(services.data_dir)["workers"]) == [2, 2],
        60,
        "two workers with two partitions each",
    )
    producer = services.start("produce", "--count", "30000", "--rate", "2000", "--seed", "7")
    wait_until(lambda: stored_count(services.data_dir) >= 6_000, 60, "events in the files")
    stalled.send_signal(signal.SIGSTOP)
    time.sleep(10)  # the group drops it; its partitions' new owner waits for their locks
    stalled.send_signal(signal.SIGCONT)
    assert producer.wait(120) == 0
    settle(services, 30_000)
    counts = stored_id_counts(services.data_dir)
    assert len(counts) == 30_000 and set(counts.values()) == {1}
    assert stalled.poll() is None, "the stalled worker must rejoin, not crash"


class AsFaust(RoundRobinPartitionAssignor):
    """A group's members must share an assignment protocol; the worker's is named "faust"."""

    name = "faust"


async def commit_ahead(services: Services, by: int) -> None:
    """Move the group's committed offset of partition 0 `by` offsets past its tables', as a
    member of the group (the broker takes commits from members only)."""
    consumer = AIOKafkaConsumer(
        "cart-events",
        bootstrap_servers=services.env["CARTSIM_KAFKA_BOOTSTRAP"],
        group_id=services.env["CARTSIM_WORKER_ID"],
        enable_auto_commit=False,
        partition_assignment_strategy=(AsFaust,),
    )
    await consumer.start()
    try:
        partition = TopicPartition("cart-events", 0)
        while partition not in consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        committed = await consumer.committed(partition)
        assert committed
        await consumer.commit({partition: committed + by})
        assert await consumer.committed(partition) == committed + by
    finally:
        await consumer.stop()


def test_a_committed_offset_ahead_of_the_tables_is_read_from_the_tables(
    worker_env: Services,
) -> None:
    """Where a partition's reading starts is the tables' business: the committed offset can be
    ahead of what the changelogs restored, and the events between must not be skipped."""
    services = worker_env
    run_and_stop(services, 10_000, seed=8)
    asyncio.run(commit_ahead(services, by=300))
    services.start("worker")
    produce(services, 5_000, seed=9)
    settle(services, 15_000)


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_and_doubles_nothing(worker_env: Services) -> None:
    services = worker_env
    rng = random.Random(2026)
    worker = services.start("worker")
    producer = services.start("produce", "--count", "200000", "--rate", "12000", "--seed", "4")
    for _ in range(5):
        time.sleep(rng.uniform(1.0, 3.0))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        worker = services.start("worker")
    assert producer.wait(120) == 0
    settle(services, 200_000, timeout=240)
    counts = stored_id_counts(services.data_dir)
    assert len(counts) == 200_000 and set(counts.values()) == {1}


def test_a_restarted_embedded_broker_rebuilds_tables_from_the_files(worker_env: Services) -> None:
    """Memory storage: the new broker is empty while the files remain."""
    services = worker_env
    run_and_stop(services, 10_000, seed=5)
    with EmbeddedBroker() as second:
        services.env["CARTSIM_KAFKA_BOOTSTRAP"] = second.bootstrap
        services.start("worker")
        produce(services, 5_000, seed=6)
        settle(services, 15_000)
        services.stop_all()
