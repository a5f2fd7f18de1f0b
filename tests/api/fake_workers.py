"""Stream workers in process, for the API's route tests: no broker, no worker process.

A `FakeWorker` answers with the worker's own view functions (`stream_processors/views.py`) over
tables the worker's own aggregator built from segment files (`stream_processors/history.py`), and
every answer goes through its JSON, as it would over HTTP.
"""

from __future__ import annotations

import itertools
import os
import zlib
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from cartsim.api.workers import WorkerUnavailableError
from cartsim.producer.command import Plan
from cartsim.producer.config import JourneyConfig
from cartsim.settings import Settings
from cartsim.storage import Layout
from cartsim.stream_processors import history, views
from cartsim.stream_processors.aggregate import Rules, encode, new_totals, totals_key
from cartsim.stream_processors.sink import SegmentSink
from cartsim.stream_processors.state import TABLE_NAMES
from cartsim.worker_views import (
    AbandonedAnswer,
    AbandonedQuery,
    Heartbeat,
    ReplaceAnswer,
    ReplaceRequest,
    TotalsAnswer,
    WindowAnswer,
    WindowQuery,
    decode_answer,
    encode_answer,
)

A = TypeVar("A", bound=BaseModel)
PARTITIONS = 4


def store_events(root: Path, count: int, seed: int, rate: float, log: str = "0dd0feed") -> None:
    """`count` of the batch generator's events at `rate` a second, as segment files of `log`,
    partitioned by session as the topic is."""
    sink = SegmentSink(Layout(root), log, max_bytes=1 << 24, max_age_s=3600)
    offsets = [0] * PARTITIONS
    rows = []
    records = Plan(seed=seed, count=count).records(
        Settings(data_dir=root), JourneyConfig(batch_rate=rate)
    )
    for key, value in itertools.islice(records, count):
        partition = zlib.crc32(key) % PARTITIONS
        rows.append((partition, offsets[partition], value))
        offsets[partition] += 1
    sink.write(rows)
    sink.close()


def tables_of_files(root: Path, rules: Rules) -> list[history.LogTables]:
    """The tables the worker's aggregator builds from every segment under `root`."""
    return history.rebuild(Layout(root), current_log="", rules=rules)


def empty_tables(log: str, partitions: Iterable[int]) -> history.LogTables:
    """Tables of `partitions` that counted nothing yet."""
    stores: dict[str, MutableMapping[bytes, bytes]] = {name: {} for name in TABLE_NAMES}
    for partition in partitions:
        stores["totals"][totals_key(partition)] = encode(new_totals(partition))
    return history.LogTables(log, stores)


@dataclass
class FakeWorker:
    """One worker: its heartbeat, the tables it serves, and whether it answers."""

    sources: Sequence[views.Source] = ()
    url: str = "http://worker.test:6066"
    reachable: bool = True
    replaced: list[ReplaceRequest] = field(default_factory=list)
    parsed: views.Parsed = field(default_factory=views.Parsed)

    @property
    def heartbeat(self) -> Heartbeat:
        owned = sorted({p for source in self.sources for p in source.partitions})
        return Heartbeat(url=self.url, pid=os.getpid(), partitions=owned)


class FakeWorkers:
    """A `WorkerSource` over in-process workers."""

    def __init__(self, *workers: FakeWorker) -> None:
        self.workers = list(workers)

    async def live(self) -> list[Heartbeat]:
        return [worker.heartbeat for worker in self.workers]

    def _worker(self, heartbeat: Heartbeat) -> FakeWorker:
        worker = next(w for w in self.workers if w.url == heartbeat.url)
        if not worker.reachable:
            raise WorkerUnavailableError(f"worker {worker.url} did not answer")
        return worker

    async def totals(self, worker: Heartbeat) -> TotalsAnswer:
        found = self._worker(worker)
        return _over_http(views.totals(found.sources, found.parsed))

    async def window(self, worker: Heartbeat, query: WindowQuery) -> WindowAnswer:
        found = self._worker(worker)
        return _over_http(views.window(found.sources, query, found.parsed))

    async def abandoned(self, worker: Heartbeat, query: AbandonedQuery) -> AbandonedAnswer:
        found = self._worker(worker)
        return _over_http(views.abandoned(found.sources, query, found.parsed))

    async def replace(self, worker: Heartbeat, request: ReplaceRequest) -> ReplaceAnswer:
        found = self._worker(worker)
        found.replaced.append(request)
        marks = request.high_watermarks
        return ReplaceAnswer(floors={p: marks.get(p, 0) for p in found.heartbeat.partitions})

    async def close(self) -> None:
        pass


def _over_http(answer: A) -> A:
    """The answer as the API parses it from the worker's JSON."""
    return decode_answer(type(answer), encode_answer(answer))
