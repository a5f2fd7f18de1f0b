"""Fixtures that start real things (a broker, workers, the API) and always stop them by PID."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from cartsim.broker import EmbeddedBroker, free_port
from cartsim.processes import stop_process

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float, what: str, poll: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as embedded:
        yield embedded


class Services:
    """Starts `cartsim` subcommands against one broker and one data folder; stops them all."""

    def __init__(self, tmp_path: Path, bootstrap: str) -> None:
        self.tmp_path = tmp_path
        self.data_dir = tmp_path / "data"
        self.api_port = free_port()
        self.env = {
            **os.environ,
            "CARTSIM_KAFKA_BOOTSTRAP": bootstrap,
            "CARTSIM_DATA_DIR": str(self.data_dir),
            "CARTSIM_WORKER_ID": f"cartsim-test-{uuid.uuid4().hex[:8]}",
            "CARTSIM_API_PORT": str(self.api_port),
            "CARTSIM_SEGMENT_MAX_AGE_S": "1",
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        with (self.tmp_path / f"{args[0]}-{len(self.processes)}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "cartsim.cli", *args],
                env={**self.env, "CARTSIM_WORKER_PORT": str(free_port()), **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cartsim.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def stop_all(self) -> None:
        while self.processes:
            stop_process(self.processes.pop(), timeout=15)


@pytest.fixture
def services(tmp_path: Path, broker: EmbeddedBroker) -> Iterator[Services]:
    started = Services(tmp_path, broker.bootstrap)
    try:
        yield started
    finally:
        started.stop_all()
