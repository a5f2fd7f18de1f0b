"""Child processes: stopping one for sure, and supervising a group that lives and dies together."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@dataclass
class Supervisor:
    """Starts named children in their own sessions and stops them in reverse order of start.

    Children get their own session so that a terminal's Ctrl-C reaches only the supervisor,
    which then stops clients before the broker they talk to.
    """

    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            list(argv), env=self.env, stdin=subprocess.DEVNULL, start_new_session=True
        )
        self.children.append((name, process))
        return process

    def adopt(self, name: str, process: subprocess.Popen[bytes]) -> None:
        self.children.append((name, process))

    def first_exit(self) -> tuple[str, int] | None:
        """The first child found to have exited, with its code; None while all run."""
        for name, process in self.children:
            code = process.poll()
            if code is not None:
                return name, code
        return None

    def wait_any(self, poll_s: float = 0.2) -> tuple[str, int]:
        while (exited := self.first_exit()) is None:
            time.sleep(poll_s)
        return exited

    def stop_all(self, timeout: float = 10.0) -> None:
        while self.children:
            _, process = self.children.pop()
            stop_process(process, timeout)
