"""`cartsim produce` to stdout and files: counts, backfill ranges, determinism, bad options."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import orjson


def cartsim(*args: str, data_dir: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARTSIM_")}
    return subprocess.run(
        [sys.executable, "-m", "cartsim.cli", "produce", *args],
        env={**env, "CARTSIM_DATA_DIR": str(data_dir)},
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_batch_to_stdout(tmp_path: Path) -> None:
    result = cartsim("--to", "stdout", "--count", "2000", "--seed", "5", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    events = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(events) == 2000 and len({e["event_id"] for e in events}) == 2000
    assert b"seed 5" in result.stderr
    assert (tmp_path / "share_data" / "products.json.gz").exists()  # built on first use


def test_backfill_to_gzip_file_is_reproducible(tmp_path: Path) -> None:
    args = ("--count", "5000", "--start", "2024-12-10", "--end", "2024-12-14", "--seed", "9")
    first, second = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    assert cartsim(*args, "--to", f"file:{first}", data_dir=tmp_path).returncode == 0
    assert cartsim(*args, "--to", f"file:{second}", data_dir=tmp_path).returncode == 0
    assert first.read_bytes() == second.read_bytes()
    events = [orjson.loads(line) for line in gzip.decompress(first.read_bytes()).splitlines()]
    assert len(events) == 5000
    assert events[0]["timestamp"] >= "2024-12-10T00:00" and events[-1]["timestamp"] < "2024-12-14"


def test_bad_options_are_one_error_and_a_non_zero_exit(tmp_path: Path) -> None:
    bad = [
        ("--to", "ftp://x", "--count", "1"),
        ("--to", "stdout", "--count", "5", "--start", "2024-01-02"),
        ("--to", "stdout", "--count", "5", "--start", "2024-01-02", "--end", "2024-01-01"),
        ("--to", "stdout", "--count", "5", "--start", "yesterday", "--end", "2024-01-01"),
        ("--to", "stdout", "--start", "2024-01-01", "--end", "2024-01-02"),
    ]
    for args in bad:
        result = cartsim(*args, data_dir=tmp_path)
        assert result.returncode == 2, args
        assert result.stderr.count(b"Error:") == 1 and b"Traceback" not in result.stderr


def test_progress_shows_only_on_a_terminal_with_a_count() -> None:
    import io

    from rich.console import Console

    from cartsim.producer.command import progress_bar

    with progress_bar(Console(file=io.StringIO()), 100) as advance:
        assert advance is None
    with progress_bar(Console(file=io.StringIO(), force_terminal=True), None) as advance:
        assert advance is None
    screen = io.StringIO()
    with progress_bar(Console(file=screen, force_terminal=True, width=100), 100) as advance:
        assert advance is not None
        advance(40)
        advance(100)
    assert "100/100" in screen.getvalue() and "events/s" in screen.getvalue()


def test_a_closed_stdout_or_bad_file_is_one_line(tmp_path: Path) -> None:
    reader = subprocess.Popen(
        [sys.executable, "-m", "cartsim.cli", "produce", "--to", "stdout", "--count", "200000"],
        env={**os.environ, "CARTSIM_DATA_DIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.readline()
    reader.stdout.close()
    with reader.stderr:
        assert reader.stderr.read().strip() == b"error: stdout was closed by its reader"
    assert reader.wait(60) == 1
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    result = cartsim("--to", f"file:{blocked}/x.jsonl", "--count", "5", data_dir=tmp_path)
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    assert result.stderr.startswith(b"error: cannot write events to")


BACKFILL = ("--count", "3000", "--start", "2024-12-10", "--end", "2024-12-11", "--seed", "9")


def test_without_fault_options_the_stream_is_byte_identical(tmp_path: Path) -> None:
    from datetime import datetime

    from cartsim.moments import VIETNAM
    from cartsim.producer.catalog import build_catalog
    from cartsim.producer.journeys import backfill

    path = tmp_path / "plain.jsonl"
    assert cartsim(*BACKFILL, "--to", f"file:{path}", data_dir=tmp_path).returncode == 0
    start, end = datetime(2024, 12, 10, tzinfo=VIETNAM), datetime(2024, 12, 11, tzinfo=VIETNAM)
    records = backfill(9, start, end, 3000, build_catalog())
    assert path.read_bytes() == b"".join(value + b"\n" for _, value in records)
    zero = tmp_path / "zero.jsonl"
    args = ("--duplicates", "0", "--reorder", "0", "--truth", str(tmp_path / "t.jsonl"))
    assert cartsim(*BACKFILL, *args, "--to", f"file:{zero}", data_dir=tmp_path).returncode == 0
    assert zero.read_bytes() == path.read_bytes()


def test_faults_and_their_truth_file(tmp_path: Path) -> None:
    import jsonschema

    from cartsim.producer.schema import TRUTH_SCHEMA_PATH
    from cartsim.truth import ExpectedResults, InjectedFault, TruthRun, truth_line
    from tests.truth import assert_labels

    out, truth = tmp_path / "faulty.jsonl", tmp_path / "truth.jsonl"
    faults = ("--duplicates", "0.02", "--late", "0.05:1m", "--reorder", "0.02")
    args = (*faults, "--malformed", "0.01", "--truth", str(truth), "--to", f"file:{out}")
    result = cartsim(*BACKFILL, *args, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    validator = jsonschema.Draft202012Validator(orjson.loads(TRUTH_SCHEMA_PATH.read_bytes()))
    lines = [orjson.loads(line) for line in truth.read_bytes().splitlines()]
    for line in lines:
        validator.validate(line)
    parsed = [truth_line.validate_python(line) for line in lines]
    assert isinstance(parsed[0], TruthRun) and parsed[0].faults.late_delay_ms == 60_000
    assert isinstance(parsed[-1], ExpectedResults) and parsed[-1].total_events == 3000
    faults_seen = [line for line in parsed if isinstance(line, InjectedFault)]
    sent = out.read_bytes().splitlines()
    extras = sum(f.fault in ("duplicate", "malformed") for f in faults_seen)
    assert len(sent) == 3000 + extras and parsed[-1].injected["late"] > 50
    assert_labels(sent, faults_seen)


def test_bad_fault_options_are_one_error(tmp_path: Path) -> None:
    for args in (
        ("--late", "0.1"),
        ("--late", "x:1s"),
        ("--duplicates", "2"),
        ("--duplicates", "0.6", "--reorder", "0.6"),
    ):
        result = cartsim("--to", "stdout", "--count", "5", *args, data_dir=tmp_path)
        assert result.returncode == 2, args
        assert result.stderr.count(b"Error:") == 1 and b"Traceback" not in result.stderr
