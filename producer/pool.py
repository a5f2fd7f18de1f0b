"""Generator processes: N children of `cartsim generator` that make buckets in turn.

Job i goes to child i mod N, so answers are read back in job order from the children in turn.
A thread per child reads its answers as soon as they are written, so a child never waits for the
consumer to start its next job; the threads spend their time in `read`, without the GIL.
Children run in their own sessions, so a terminal's Ctrl-C reaches only the producer, which
stops them; a child whose producer is gone ends at the end of its input, or on its next write.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import queue
import signal
import subprocess
import sys
import threading
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import IO, Self

from cartsim.errors import CartsimError
from cartsim.generation import BucketDone, BucketJob, GeneratorSetup
from cartsim.processes import stop_process
from cartsim.producer.catalog import Product
from cartsim.producer.config import JourneyConfig
from cartsim.producer.lines import INT64, Lines
from cartsim.producer.merge import InProcess, Runner
from cartsim.producer.shop import Shop

_INT_BYTES = array(INT64).itemsize
#: Pipe buffer for answers: in 64 KB (the default) a child writes a bucket in thousands of
#: steps, each waking the reader.
_PIPE_BYTES = 1 << 20
#: Events per child asked for before waiting for an answer (about 25 MB of lines).
_AHEAD_EVENTS = 50_000
#: Jobs per child out at most: a slow live rate makes buckets of a few events.
_MOST_JOBS = 128


class GeneratorError(CartsimError):
    """A generator process stopped before its work was done."""


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on this platform
        return os.cpu_count() or 1


class GeneratorPool:
    """`processes` generator children, as a `Runner`; `with` starts and stops them."""

    def __init__(self, processes: int, setup: GeneratorSetup) -> None:
        self.setup = setup
        self.processes = processes
        #: Two jobs per child: one being made while the consumer takes the other's answer; and
        #: for small buckets (a backfill's hours), enough that a child never waits for the
        #: producer to read an answer and hand it the next job.
        self.ahead = 2 * processes
        self.ahead_events = _AHEAD_EVENTS * processes
        self.most = _MOST_JOBS * processes
        self.children: list[subprocess.Popen[bytes]] = []
        self.answers: list[queue.SimpleQueue[Lines | None]] = []
        self.readers: list[threading.Thread] = []
        self.sent = self.received = 0

    def __enter__(self) -> Self:
        try:
            for _ in range(self.processes):
                self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self) -> None:
        child = subprocess.Popen(
            [sys.executable, "-m", "cartsim.cli", "generator"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.children.append(child)
        assert child.stdout is not None
        with contextlib.suppress(OSError, AttributeError):  # Linux only; a hint
            fcntl.fcntl(child.stdout.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        answers: queue.SimpleQueue[Lines | None] = queue.SimpleQueue()
        self.answers.append(answers)
        reader = threading.Thread(target=_read, args=(child.stdout, answers), daemon=True)
        reader.start()
        self.readers.append(reader)
        self._write(child, self.setup.model_dump_json())

    @staticmethod
    def _write(child: subprocess.Popen[bytes], line: str) -> None:
        assert child.stdin is not None
        try:
            child.stdin.write(line.encode() + b"\n")
            child.stdin.flush()
        except OSError:
            pass  # the child is gone: reading its answer says why

    def submit(self, job: BucketJob) -> None:
        self._write(self.children[self.sent % self.processes], job.model_dump_json())
        self.sent += 1

    def result(self) -> Lines:
        index = self.received % self.processes
        answer = self.answers[index].get()
        if answer is None:
            raise GeneratorError(self._failure(index))
        self.received += 1
        return answer

    def _failure(self, index: int) -> str:
        """One line on why child `index` stopped."""
        child = self.children[index]
        try:
            code = child.wait(10)
        except subprocess.TimeoutExpired:
            return f"generator process {index + 1} of {self.processes} stopped answering"
        how = f"exit code {code}"
        if code < 0:
            how = f"killed by {signal.Signals(-code).name}"
        assert child.stderr is not None
        said = [line for line in child.stderr.read().decode(errors="replace").splitlines() if line]
        reason = f": {said[-1]}" if said else ""
        return f"generator process {index + 1} of {self.processes} failed ({how}){reason}"

    def close(self) -> None:
        """Stop every child (SIGTERM, then SIGKILL), and the threads that read them."""
        for child in self.children:
            if child.stdin is not None:
                try:
                    child.stdin.close()
                except OSError:
                    pass
            stop_process(child, timeout=5)
        for reader in self.readers:
            reader.join()
        for child in self.children:
            for stream in (child.stdout, child.stderr):
                if stream is not None:
                    stream.close()


def _read(stream: IO[bytes], answers: queue.SimpleQueue[Lines | None]) -> None:
    """Read a child's answers until it ends; None marks the end."""
    try:
        while header := stream.readline():
            done = BucketDone.model_validate_json(header)
            size = done.events * _INT_BYTES
            stamps, lengths = array(INT64), array(INT64)
            stamps.frombytes(_exactly(stream, size))
            lengths.frombytes(_exactly(stream, size))
            answers.put(Lines(_exactly(stream, done.data_bytes), lengths, stamps))
    except (OSError, ValueError, EOFError):
        pass  # a torn answer: the child's exit says why
    answers.put(None)


def _exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the answer ended early")
    return data


@contextmanager
def runner(
    processes: int, seed: int, products: Sequence[Product], config: JourneyConfig
) -> Iterator[Runner]:
    """This process for one, else a pool of `processes` generator processes."""
    if processes <= 1:
        yield InProcess(Shop(seed, products, config))
        return
    setup = GeneratorSetup(
        seed=seed,
        config=dataclasses.asdict(config),
        products=[dataclasses.asdict(product) for product in products],
    )
    with GeneratorPool(processes, setup) as pool:
        yield pool
