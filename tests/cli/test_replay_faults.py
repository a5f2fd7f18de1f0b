"""`cartsim replay` with faults: reproducible under --seed, labelled exactly in the truth file,
whose expected results are a recount of the clean replayed stream."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from cartsim.broker import EmbeddedBroker
from cartsim.producer.partitions import partition_for
from cartsim.truth import ExpectedResults, InjectedFault
from tests.cli.conftest import COUNT, command, replay
from tests.conftest import wait_until
from tests.recount import recount
from tests.topic import read_records
from tests.truth import assert_labels, assert_recounted, read_truth

FAULTS = ("--duplicates", "0.03", "--late", "0.05:2m", "--reorder", "0.03", "--malformed", "0.01")
#: Filters, sampling, re-timing and loops: the clean stream is what they make of the source.
SHAPED = ("--sample", "0.6", "--seed", "5", "--retime", "2026-01-01T00:00", "--loop", "2")
#: Carts abandoned after 10 s of idleness: the recorded stream spans less than a minute a loop.
ABANDON = {"CARTSIM_ABANDON_AFTER_S": "10"}


def labels(faults: list[InjectedFault]) -> list[dict[str, Any]]:
    return [fault.model_dump(exclude={"sent_at"}) for fault in faults]


def assert_recount(expected: ExpectedResults, clean: list[bytes], partitions: int) -> None:
    split: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for value in clean:
        event = orjson.loads(value)
        split[partition_for(event["session_id"].encode(), partitions)].append(event)
    assert expected.total_events == len(clean) and expected.abandon_after_s == 10
    assert_recounted(expected, recount(split.values(), abandon_after_ms=10_000))
    assert expected.abandoned_sessions > 0


def test_a_faulty_replay_reproduces_and_its_truth_is_the_clean_stream(
    tmp_path: Path, events_file: Path
) -> None:
    runs = {}
    for name in ("a", "b"):
        out, truth = tmp_path / f"{name}.jsonl", tmp_path / f"{name}-truth.jsonl"
        args = (*SHAPED, *FAULTS, "--truth", str(truth), "--to", f"file:{out}")
        result = replay(tmp_path, str(events_file), *args, env=ABANDON)
        assert result.returncode == 0, result.stderr
        runs[name] = out.read_bytes().splitlines(), read_truth(truth)
    (sent, (run, faults, expected)), (again, (_, faults_again, _)) = runs["a"], runs["b"]
    assert sent == again and labels(faults) == labels(faults_again)
    assert run.seed == 5 and run.partitions == 4

    plain = tmp_path / "clean.jsonl"
    result = replay(tmp_path, str(events_file), *SHAPED, "--to", f"file:{plain}")
    assert result.returncode == 0, result.stderr
    clean = plain.read_bytes().splitlines()
    assert COUNT < len(clean) < 2 * COUNT  # two loops of a sample

    extras = {f.sequence for f in faults if f.fault in ("duplicate", "malformed")}
    assert Counter(v for i, v in enumerate(sent) if i not in extras) == Counter(clean)
    assert_labels(sent, faults)
    assert expected.injected == dict(Counter(f.fault for f in faults))
    assert set(expected.injected) == {"duplicate", "late", "reorder", "malformed"}
    assert any(f.event_id.endswith("-L1") for f in faults)  # the second loop has faults too
    assert_recount(expected, clean, run.partitions)
    assert f"replayed {len(clean):,} events from {events_file}" in result.stderr


def test_replay_injects_as_produce_does(tmp_path: Path) -> None:
    """The same clean stream and seed give the same faults whichever command sends them."""
    backfill = ("--count", "3000", "--start", "2024-12-10", "--end", "2024-12-11", "--seed", "9")
    clean, produced, replayed = (tmp_path / f"{n}.jsonl" for n in ("clean", "p", "r"))
    made = command(tmp_path, "produce", *backfill, "--to", f"file:{clean}")
    assert made.returncode == 0, made.stderr
    truth = ("--truth", str(tmp_path / "p-truth.jsonl"))
    faulty = command(tmp_path, "produce", *backfill, *FAULTS, *truth, "--to", f"file:{produced}")
    assert faulty.returncode == 0, faulty.stderr
    args = ("--seed", "9", *FAULTS, "--truth", str(tmp_path / "r-truth.jsonl"))
    result = replay(tmp_path, str(clean), *args, "--to", f"file:{replayed}")
    assert result.returncode == 0, result.stderr
    assert replayed.read_bytes() == produced.read_bytes() != clean.read_bytes()
    _, produce_faults, produce_expected = read_truth(tmp_path / "p-truth.jsonl")
    _, replay_faults, replay_expected = read_truth(tmp_path / "r-truth.jsonl")
    assert labels(replay_faults) == labels(produce_faults)
    assert replay_expected == produce_expected


def test_into_a_topic_each_fault_names_the_partition_it_landed_on(
    tmp_path: Path, events_file: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    with EmbeddedBroker() as broker:
        to = f"kafka://{broker.bootstrap}/copy"
        args = (*FAULTS, "--seed", "3", "--truth", str(truth), "--create-topic")
        result = replay(tmp_path, str(events_file), "--to", to, *args)
        assert result.returncode == 0, result.stderr
        run, faults, expected = read_truth(truth)
        total = COUNT + expected.injected["duplicate"] + expected.injected["malformed"]
        records = asyncio.run(read_records(broker.bootstrap, "copy", total, within_s=60))
    assert len(records) == total and expected.total_events == COUNT
    where = defaultdict(set)
    for record in records:
        where[hashlib.sha256(record.value).hexdigest()].add(record.partition)
    for fault in faults:
        if fault.sha256 is not None:
            assert where[fault.sha256] == {fault.partition}
    assert all(r.partition == partition_for(r.key, run.partitions) for r in records)


def test_a_stopped_faulty_replay_ends_its_truth_with_what_was_sent(
    tmp_path: Path, events_file: Path
) -> None:
    out, truth = tmp_path / "out.jsonl", tmp_path / "truth.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARTSIM_")}
    command = [sys.executable, "-m", "cartsim.cli", "replay", str(events_file), "--speed", "5"]
    paced = subprocess.Popen(
        [*command, *FAULTS, "--truth", str(truth), "--to", f"file:{out}"],
        env={**env, "CARTSIM_DATA_DIR": str(tmp_path)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: out.exists() and out.stat().st_size > 0, 60, "the first events")
        paced.send_signal(signal.SIGINT)
        _, stderr = paced.communicate(timeout=60)
    finally:
        paced.kill()
    assert paced.returncode == 0, stderr
    assert "stopped after" in stderr and "--resume" not in stderr and "Traceback" not in stderr
    _, faults, expected = read_truth(truth)
    sent = out.read_bytes().splitlines()
    extras = sum(f.fault in ("duplicate", "malformed") for f in faults)
    assert 0 < expected.total_events == len(sent) - extras < COUNT
    assert not (tmp_path / "private_data" / "replay").exists()  # no checkpoint to resume


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--late", "0.1"), 2, "use P:DELAY"),
        (("--duplicates", "2"), 2, "is not a fraction between 0 and 1"),
        (("--duplicates", "0.6", "--reorder", "0.6"), 2, "add up to more than 1"),
        (("--malformed", "x"), 2, "'x' is not a valid float"),
        (("--duplicates", "0.1", "--checkpoint", "c.json"), 2, "leave out --checkpoint"),
        (("--truth", "t.jsonl", "--resume", "EVENTS"), 2, "--resume continues a replay without"),
        (("--truth", "EVENTS/t.jsonl"), 1, "cannot write the truth file"),
    ],
)
def test_bad_fault_options_are_one_line(
    tmp_path: Path, events_file: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    args = tuple(arg.replace("EVENTS", str(events_file)) for arg in args)
    result = replay(tmp_path, str(events_file), "--to", "stdout", *args)
    assert result.returncode == code and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not result.stdout
    if code == 1:
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_failed_faulty_replay_leaves_no_expected_results(
    tmp_path: Path, events_file: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    args = ("--duplicates", "0.1", "--truth", str(truth), "--retry-for", "0.5")
    result = replay(tmp_path, str(events_file), "--to", "http://127.0.0.1:9/x", *args)
    assert result.returncode == 1 and "gave up on http://127.0.0.1:9/x" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    kinds = [orjson.loads(line)["kind"] for line in truth.read_bytes().splitlines()]
    assert kinds[0] == "run" and "expected" not in kinds
