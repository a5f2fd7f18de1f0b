from __future__ import annotations

import os
import subprocess
import sys


def cartsim(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CARTSIM_")}
    return subprocess.run(
        [sys.executable, "-m", "cartsim.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_missing_broker_address_is_one_readable_line() -> None:
    result = cartsim("produce", "--count", "10")
    assert result.returncode == 1
    assert "CARTSIM_KAFKA_BOOTSTRAP is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_broker_is_one_readable_line() -> None:
    result = cartsim("produce", "--count", "10", CARTSIM_KAFKA_BOOTSTRAP="127.0.0.1:1")
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error:") and "Traceback" not in result.stderr


def test_a_bad_setting_is_one_readable_line() -> None:
    result = cartsim("produce", "--count", "10", CARTSIM_PARTITIONS="lots")
    assert result.returncode == 1
    assert "partitions" in result.stderr and "Traceback" not in result.stderr


def test_bad_options_are_refused() -> None:
    result = cartsim("produce", "--count", "0")
    assert result.returncode == 2 and "--count" in result.stderr
