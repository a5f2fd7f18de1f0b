"""`cartsim transform` on bad input: one readable line or counted skips, never a traceback."""

from __future__ import annotations

import gzip
import json
import subprocess
from itertools import islice
from pathlib import Path

import orjson

from cartsim.analytics import MANIFEST_NAME
from cartsim.producer.catalog import build_catalog
from cartsim.producer.journeys import backfill
from tests.cli import test_cli
from tests.transformation.conftest import END, START, table_rows


def cartsim(*args: str) -> subprocess.CompletedProcess[str]:
    """The command, on a terminal wide enough that no message wraps."""
    return test_cli.cartsim(*args, COLUMNS="1000")


def events(count: int) -> list[bytes]:
    return [value for _, value in islice(backfill(5, START, END, count, build_catalog()), count)]


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0, result.stderr
    stderr = result.stderr
    assert "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]  # after progress lines, if any
    assert last.startswith("error:"), stderr
    for fragment in fragments:
        assert fragment in last, stderr


def test_a_folder_with_no_events_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = cartsim("transform", "--from", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    one_line_error(result, "no events in")


def test_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    result = cartsim("transform", "--from", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"))
    one_line_error(result, "does not exist")


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "in" / "cart_events.jsonl.gz"
    bad.parent.mkdir()
    bad.write_bytes(b"this is no gzip file\n")
    result = cartsim("transform", "--from", str(bad.parent), "--out", str(tmp_path / "o"))
    one_line_error(result, "cannot read", "not a gzip file")


def test_a_torn_gzip_tail_and_lines_that_are_not_events_are_counted_skips(
    tmp_path: Path,
) -> None:
    good = events(40)
    inputs = tmp_path / "in"
    inputs.mkdir()
    whole = gzip.compress(b"\n".join(good[:20]) + b"\n")
    torn = gzip.compress(b"\n".join(good[20:30]) + b"\n")
    (inputs / "torn.jsonl.gz").write_bytes(whole + torn[: len(torn) // 2])
    not_events = [b"not json at all", b'{"event_id": "x"}', b"[1, 2]", b'{"quantity": "many"}']
    (inputs / "mixed.jsonl").write_bytes(b"\n".join([*good[30:], *not_events]) + b"\n")
    out = tmp_path / "out"
    result = cartsim("transform", "--from", str(inputs), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "4 line(s) that are not events" in result.stderr
    assert "bytes of torn gzip tails" in result.stderr
    stored = {row[1] for row in table_rows(out, "events")}
    assert stored == {orjson.loads(e)["event_id"] for e in good[:20] + good[30:]}


def test_an_out_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.jsonl").write_bytes(b"\n".join(events(5)) + b"\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST_NAME).write_text(json.dumps({"schema_version": 99, "inputs": []}))
    result = cartsim("transform", "--from", str(inputs), "--out", str(out))
    one_line_error(result, "schema version 99", "choose another --out")


def test_an_end_before_the_start_is_refused(tmp_path: Path) -> None:
    result = cartsim(
        "transform", "--out", str(tmp_path), "--start", "2024-11-02", "--end", "2024-11-01"
    )
    assert result.returncode == 2 and "must be after --start" in result.stderr
