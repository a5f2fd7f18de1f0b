"""The generation job: the producer's simulator sent onto the topic from inside the API process.

Generated events take the same path as live ones (topic -> worker -> files -> ingester). The
simulator is CPU-bound Python, so each chunk of records is generated in a thread and only
sending runs on the event loop. One job runs at a time.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from cartsim.api.replace import replace_hook
from cartsim.api.schemas import GenerationStatus, JobState
from cartsim.api.workers import WorkerSource
from cartsim.errors import CartsimError
from cartsim.kafka import ensure_topic
from cartsim.producer.command import Plan
from cartsim.producer.config import JourneyConfig
from cartsim.producer.emit import emit
from cartsim.producer.records import KeyedEvent
from cartsim.producer.targets import KafkaTarget
from cartsim.settings import Settings

log = logging.getLogger(__name__)

Method = Literal["new", "replace"]
_CHUNK = 5_000  # records generated per thread hop; also how soon a cancel takes effect


class JobBusyError(CartsimError):
    """A generation job is already running."""


def simulated_records(settings: Settings, seed: int, count: int) -> Iterator[KeyedEvent]:
    """`count` of the producer's batch-mode records: the one place the API calls the simulator."""
    return itertools.islice(Plan(seed=seed, count=count).records(settings, JourneyConfig()), count)


@dataclass
class GenerationJob:
    """State of one job; its numbers are read by GET /cart/generate/status."""

    method: Method
    seed: int
    total: int
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: JobState = "running"
    produced: int = 0
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    errors: list[str] = field(default_factory=list)
    _clock: float = field(default_factory=time.monotonic)

    def status(self) -> GenerationStatus:
        end = self.finished_at.timestamp() if self.finished_at else None
        elapsed = (end - self.started_at.timestamp()) if end else time.monotonic() - self._clock
        rate = self.produced / elapsed if elapsed > 0 else 0.0
        left = self.total - self.produced
        eta = 0.0 if left <= 0 else (left / rate if rate > 0 else None)
        return GenerationStatus(
            job_id=self.job_id,
            state=self.state,
            method=self.method,
            seed=self.seed,
            produced=self.produced,
            total=self.total,
            rate=rate,
            eta_seconds=eta if self.state == "running" else None,
            started_at=self.started_at,
            finished_at=self.finished_at,
            errors=list(self.errors),
        )


class Generator:
    """Starts, tracks and cancels the one generation job of this API process."""

    def __init__(self, settings: Settings, workers: WorkerSource) -> None:
        self.settings = settings
        self.workers = workers
        self.job: GenerationJob | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, count: int, method: Method, seed: int) -> GenerationJob:
        if self.running:
            raise JobBusyError("a generation job is running; wait for it or cancel it")
        self.job = GenerationJob(method=method, seed=seed, total=count)
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(self.job, self._stop), name="generation")
        return self.job

    def cancel(self) -> GenerationJob | None:
        """Ask the running job to stop after the chunk in flight; None when none runs."""
        if not self.running:
            return None
        self._stop.set()
        return self.job

    async def close(self) -> None:
        if self._task is not None:
            self._stop.set()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self, job: GenerationJob, stop: asyncio.Event) -> None:
        try:
            await self._produce(job, stop)
        except (CartsimError, OSError, NotImplementedError) as exc:
            log.warning("generation job %s failed: %s", job.job_id, exc)
            job.errors.append(str(exc))
            job.state = "failed"
        else:
            job.state = "cancelled" if stop.is_set() and job.produced < job.total else "succeeded"
        finally:
            job.finished_at = datetime.now(UTC)

    async def _produce(self, job: GenerationJob, stop: asyncio.Event) -> None:
        settings = self.settings
        bootstrap = settings.require_bootstrap()
        if job.method == "replace":
            await replace_hook(settings, self.workers)
        await ensure_topic(bootstrap, settings.topic, settings.partitions)
        records = await asyncio.to_thread(simulated_records, settings, job.seed, job.total)
        async with KafkaTarget(bootstrap, settings.topic) as target:
            while job.produced < job.total and not stop.is_set():
                want = min(_CHUNK, job.total - job.produced)
                chunk = await asyncio.to_thread(list, itertools.islice(records, want))
                if not chunk:
                    break
                done = job.produced

                def progress(sent: int, done: int = done) -> None:
                    job.produced = done + sent

                await emit(
                    iter(chunk),
                    target,
                    count=len(chunk),
                    chunk=_CHUNK,
                    stop=stop,
                    on_progress=progress,
                )
