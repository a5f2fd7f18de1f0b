"""What the replay tests share: a recorded stream in a file, and the CLI run as users run it."""

from __future__ import annotations

import os
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pytest

from cartsim.producer.catalog import build_catalog
from cartsim.producer.journeys import steady

COUNT = 2_000


def replay(
    data_dir: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`cartsim replay ARGS` over `data_dir`, with `env` but not the caller's CARTSIM_ settings."""
    return command(data_dir, "replay", *args, stdin=stdin, env=env)


def command(
    data_dir: Path,
    *args: str,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`cartsim ARGS` over `data_dir`, with `env` but not the caller's CARTSIM_ settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CARTSIM_")}
    return subprocess.run(
        [sys.executable, "-m", "cartsim.cli", *args],
        env={**clean, **(env or {}), "CARTSIM_DATA_DIR": str(data_dir)},
        input=None if stdin is None else stdin.decode(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    records = islice(steady(11, 50.0, build_catalog(), now_ms=1_731_330_000_000), COUNT)
    return [value for _, value in records]


@pytest.fixture
def events_file(tmp_path: Path, lines: list[bytes]) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path
