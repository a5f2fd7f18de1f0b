"""Generator processes: the same bytes for any number of them, and none left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO

import pytest

from cartsim.moments import VIETNAM
from cartsim.producer.catalog import Product
from cartsim.producer.config import JourneyConfig
from cartsim.producer.journeys import Schedule, backfill_schedule, batch_schedule
from cartsim.producer.lines import Lines, Reader
from cartsim.producer.pool import runner

SEED = 31


def schedules(config: JourneyConfig) -> list[Schedule]:
    """A batch and a backfill of a few thousand events, each over several buckets."""
    start = datetime(2024, 11, 10, 18, tzinfo=VIETNAM)
    end = datetime(2024, 11, 11, 2, tzinfo=VIETNAM)
    return [
        batch_schedule(4_000, config, now_ms=1_750_000_000_000),
        backfill_schedule(start, end, 3_000),
    ]


def made_by(processes: int, products: tuple[Product, ...]) -> list[bytes]:
    config = JourneyConfig()
    out = []
    with runner(processes, SEED, products, config) as making:
        for schedule in schedules(config):
            assert schedule.count is not None
            out.append(bytes(Reader(schedule.lines(making)).take(schedule.count).data))
    return out


def test_the_stream_is_byte_identical_for_any_number_of_processes(
    products: tuple[Product, ...],
) -> None:
    one = made_by(1, products)
    assert [data.count(b"\n") for data in one] == [4_000, 3_000]
    assert made_by(2, products) == one
    assert made_by(3, products) == one


def test_many_buckets_merge_in_time_order_with_ties_to_the_earlier_bucket(
    products: tuple[Product, ...],
) -> None:
    """A backfill of a busy hour in small buckets: most sessions cross bucket ends."""
    config = JourneyConfig()
    hour = datetime(2024, 11, 11, 20, tzinfo=VIETNAM)
    schedule = backfill_schedule(hour, hour.replace(hour=21), 5_000)
    few_events = Schedule(list(_small_buckets(schedule)), 5_000, schedule.until_ms)
    with runner(2, SEED, products, config) as making:
        lines = Lines.concat(list(few_events.lines(making)))
    with runner(1, SEED, products, config) as making:
        assert bytes(Lines.concat(list(few_events.lines(making))).data) == bytes(lines.data)
    assert len(lines) >= 5_000 and list(lines.stamps) == sorted(lines.stamps)


def _small_buckets(schedule: Schedule) -> Iterator[tuple[int, int, int]]:
    """The schedule's range in one-minute buckets with the same total."""
    assert schedule.until_ms is not None and schedule.count is not None
    (low, _, _), *_ = list(schedule.buckets)
    parts = (schedule.until_ms - low) // 60_000
    for part in range(parts):
        yield low + part * 60_000, low + (part + 1) * 60_000, schedule.count * (part + 1) // parts


@contextmanager
def producing(tmp_path: Path, *args: str, drain: bool = True) -> Iterator[subprocess.Popen[bytes]]:
    """`cartsim produce` to a pipe, once events flow; a thread drains the pipe unless told not
    to. Whatever it started is killed by PID at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARTSIM_")}
    command = [sys.executable, "-m", "cartsim.cli", "produce", "--to", "stdout", *args]
    with subprocess.Popen(
        command,
        env={**env, "CARTSIM_DATA_DIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as producer:
        assert producer.stdout is not None
        producer.stdout.readline()  # events flow: the generators are up
        generators = children(producer.pid)
        reader = threading.Thread(target=_drain, args=(producer.stdout,), daemon=True)
        if drain:
            reader.start()
        try:
            yield producer
        finally:
            for pid in [producer.pid, *generators]:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            producer.wait()
            if drain:
                reader.join()


def _drain(stream: IO[bytes]) -> None:
    while stream.read(1 << 20):
        pass


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid`, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


BIG_RUN = ("--count", "50000000", "--start", "2024-01-01", "--end", "2025-01-01", "--seed", "4")


BIG_RUN = ("--count", "50000000", "--start", "2024-01-01", "--end", "2025-01-01", "--seed", "4")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_producer_and_its_generators(tmp_path: Path, signum: int) -> None:
    with producing(tmp_path, *BIG_RUN, "--processes", "2") as producer:
        generators = children(producer.pid)
        assert len(generators) == 2
        producer.send_signal(signum)
        assert producer.wait(60) == 0
        assert producer.stderr is not None and b"sent " in producer.stderr.read()
        assert not [pid for pid in generators if alive(pid)]


def test_a_consumer_error_stops_the_generators(tmp_path: Path) -> None:
    with producing(tmp_path, *BIG_RUN, "--processes", "2", drain=False) as producer:
        generators = children(producer.pid)
        assert len(generators) == 2 and producer.stdout is not None
        producer.stdout.close()
        assert producer.stderr is not None
        assert producer.stderr.read().strip() == b"error: stdout was closed by its reader"
        assert producer.wait(60) == 1
        assert not [pid for pid in generators if alive(pid)]


def test_a_generator_crash_is_one_error_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    with producing(tmp_path, *BIG_RUN, "--processes", "2") as producer:
        generators = children(producer.pid)
        os.kill(generators[0], signal.SIGKILL)
        assert producer.wait(60) == 1
        assert producer.stderr is not None
        lines = producer.stderr.read().decode().strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("error: generator process ")
        assert "failed (killed by SIGKILL)" in lines[0]
        assert not [pid for pid in generators if alive(pid)]
