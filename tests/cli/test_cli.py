from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from cartsim.processes import stop_process


def _environment(**env: str) -> dict[str, str]:
    """This environment without any CARTSIM_ setting, plus `env`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("CARTSIM_")}, **env}


def cartsim(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cartsim.cli", *args],
        env=_environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextmanager
def cartsim_running(*args: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """`cartsim ARGS` in the background, output piped; stopped by its PID at the end."""
    with subprocess.Popen(
        [sys.executable, "-m", "cartsim.cli", *args],
        env=_environment(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    ) as process:
        try:
            yield process
        finally:
            stop_process(process)


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
