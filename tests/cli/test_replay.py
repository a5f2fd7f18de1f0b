"""`cartsim replay` as users run it: file to a webhook, Ctrl-C and --resume, and bad input as one
readable line with a non-zero exit."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from cartsim.broker import EmbeddedBroker
from cartsim.kafka import ensure_topic
from tests.cli.conftest import COUNT, replay
from tests.conftest import wait_until
from tests.filled import fill_store
from tests.producer.collector import Collector, serving
from tests.topic import read_records


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A collector on its own event loop in a thread, as a webhook would run elsewhere."""
    served = Collector(["500", "429", "ok"], retry_after="0")
    loop = asyncio.new_event_loop()
    ready, done = threading.Event(), asyncio.Event()

    async def serve() -> None:
        async with serving(served):
            ready.set()
            await done.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    thread.start()
    ready.wait(30)
    try:
        yield served
    finally:
        loop.call_soon_threadsafe(done.set)
        thread.join(30)
        loop.close()


def test_a_file_goes_to_a_webhook(tmp_path: Path, events_file: Path, collector: Collector) -> None:
    result = replay(tmp_path, str(events_file), "--to", collector.url, "--batch-size", "150")
    assert result.returncode == 0, result.stderr
    assert sorted(collector.events()) == sorted(events_file.read_bytes().splitlines())
    assert f"replayed {COUNT:,} events from {events_file}" in result.stderr


def test_ctrl_c_stops_and_resume_continues_without_repeats(
    tmp_path: Path, lines: list[bytes]
) -> None:
    fill_store(tmp_path, ((orjson.loads(v)["session_id"].encode(), v) for v in lines))
    out = tmp_path / "out.jsonl"
    checkpoint = tmp_path / "progress.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARTSIM_")}
    paced = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cartsim.cli",
            "replay",
            "--to",
            f"file:{out}",
            "--speed",
            "5",
            "--checkpoint",
            str(checkpoint),
        ],
        env={**env, "CARTSIM_DATA_DIR": str(tmp_path)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: checkpoint.exists(), 60, "the first checkpoint")
        paced.send_signal(signal.SIGINT)
        _, stderr = paced.communicate(timeout=60)
    finally:
        paced.kill()
    assert paced.returncode == 0, stderr
    assert f"continue with --resume {checkpoint}" in stderr and "Traceback" not in stderr
    first = out.read_bytes().splitlines()
    assert 0 < len(first) < COUNT

    other = replay(tmp_path, "--to", f"file:{out}", "--sample", "0.5", "--resume", str(checkpoint))
    assert other.returncode == 2 and "records another replay (sample differ)" in other.stderr
    assert out.read_bytes().splitlines() == first

    rest = replay(tmp_path, "--to", f"file:{out}", "--resume", str(checkpoint))  # flat out now
    assert rest.returncode == 0, rest.stderr
    assert f"replayed {COUNT - len(first):,} events" in rest.stderr
    assert sorted(out.read_bytes().splitlines()) == sorted(lines)  # continued, none twice


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--to", "http://"), 2, "is not a valid URL"),
        (("--to", "kafka://nohost/t"), 2, "use kafka://HOST:PORT/TOPIC"),
        (("--to", "ftp://x"), 2, "use kafka, kafka://HOST:PORT/TOPIC"),
        (("--to", "kafka://127.0.0.1:1/t"), 1, "cannot reach Kafka at 127.0.0.1:1"),
        (("--to", "stdout"), 1, "no store at"),
        (("missing.jsonl", "--to", "stdout"), 2, "no such file"),
        (("--speed", "fast"), 2, "use max or a number above 0"),
        (("--loop", "0"), 2, "use a count of 1 or more, or forever"),
        (("--start", "2024-11-31"), 2, "is not an ISO 8601 date or date-time"),
        (("--start", "2024-11-02", "--end", "2024-11-01"), 2, "is before --start"),
        (("-", "--loop", "2"), 2, "stdin can be read once"),
        (("--from-time", "2024-11-01", "--to", "stdout"), 2, "applies to a Kafka source only"),
        (("--sample", "0"), 2, "--sample"),
        (("--header", "nocolon"), 2, "use NAME:VALUE"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    result = replay(tmp_path, *args)
    assert result.returncode == code and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    if code == 1:
        assert len(result.stderr.strip().splitlines()) == 1


def test_bad_sources_and_empty_selections(tmp_path: Path, events_file: Path) -> None:
    nothing = replay(tmp_path, str(events_file), "--to", "stdout", "--end", "2001-01-01")
    assert nothing.returncode == 1 and f"no event of the {COUNT:,} in" in nothing.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert "holds no events" in replay(tmp_path, str(empty), "--to", "stdout").stderr

    lines = events_file.read_bytes().splitlines()
    mixed = b"\n".join([lines[0], b'{"event_id": 1}', lines[1], b"oops"]) + b"\n"
    reported = replay(tmp_path, "-", "--to", "stdout", stdin=mixed)
    assert reported.returncode == 0 and reported.stdout.count("\n") == 2
    assert "2 lines were not valid events" in reported.stderr
    assert (
        "stdin line 2: missing" in reported.stderr and "stdin line 4: not JSON" in reported.stderr
    )
    strict = replay(tmp_path, "-", "--to", "stdout", "--strict", stdin=mixed)
    assert strict.returncode == 1 and "stdin line 2 is not a valid event" in strict.stderr
    assert "Traceback" not in strict.stderr

    gave_up = replay(
        tmp_path, str(events_file), "--to", "http://127.0.0.1:9/x", "--retry-for", "0.5"
    )
    assert gave_up.returncode == 1 and "gave up on http://127.0.0.1:9/x" in gave_up.stderr
    assert len(gave_up.stderr.strip().splitlines()) == 1


def test_an_unknown_topic_is_one_line(tmp_path: Path, events_file: Path) -> None:
    with EmbeddedBroker() as broker:
        asyncio.run(ensure_topic(broker.bootstrap, "exists", 1))
        to = replay(tmp_path, str(events_file), "--to", f"kafka://{broker.bootstrap}/nope")
        source = replay(tmp_path, f"kafka://{broker.bootstrap}/nope", "--to", "stdout")
    for result in (to, source):
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip() == f"error: topic 'nope' does not exist at {broker.bootstrap}"


def test_create_topic_makes_a_missing_target_topic(tmp_path: Path, events_file: Path) -> None:
    with EmbeddedBroker() as broker:
        to = f"kafka://{broker.bootstrap}/copy"
        result = replay(tmp_path, str(events_file), "--to", to, "--create-topic")
        assert result.returncode == 0, result.stderr
        records = asyncio.run(read_records(broker.bootstrap, "copy", COUNT, within_s=60))
    assert sorted(r.value for r in records) == sorted(events_file.read_bytes().splitlines())
