"""The workers' tables, as their answers merged into one picture.

Each worker answers for its own partitions, and for the tables rebuilt from earlier logs' files;
for every (log, partition) the answer that reached the highest offset wins, so a partition
moving between workers, or history every worker reports, counts once. A background task keeps a
merged snapshot of the totals fresh (every `refresh_s`), so /cart/statistics reads memory;
date ranges and abandoned carts ask the workers the snapshot found, once per snapshot and
question (`shared`), and the workers sum a date range's minutes themselves. What was asked
lately each refresh asks again before it publishes its snapshot, so a request seldom waits for
a worker.

A refresh merges and prepares its snapshot in a thread (`prepare`: what the routes compute from
a snapshot alone), then publishes it by replacing the reference, so a request never waits for a
merge on the event loop and always reads one whole snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar, cast

from cartsim.api.workers import WorkerSource, WorkerUnavailableError
from cartsim.worker_views import (
    HOUR_MS,
    AbandonedAnswer,
    AbandonedEntry,
    AbandonedQuery,
    Heartbeat,
    PartitionTotals,
    PartitionWindow,
    TotalsAnswer,
    WindowAnswer,
    WindowQuery,
)

log = logging.getLogger(__name__)
#: How long, and how many, of what requests asked of a snapshot each refresh makes again.
HOT_S = 10.0
HOT_KEYS = 16
E = TypeVar("E")
K = TypeVar("K", bound=Hashable)
A = TypeVar("A")


def _freshest(
    entries: Iterable[E], identity: Callable[[E], K], offset: Callable[[E], int]
) -> dict[K, E]:
    """Per identity, the entry whose partition reached the highest offset."""
    best: dict[K, E] = {}
    for entry in entries:
        key = identity(entry)
        if key not in best or offset(entry) > offset(best[key]):
            best[key] = entry
    return best


def _log_partition(entry: PartitionTotals | PartitionWindow) -> tuple[str, int]:
    return entry.log, entry.partition


def merge_totals(answers: Iterable[TotalsAnswer]) -> list[PartitionTotals]:
    """One entry per (log, partition), in that order: the one that reached the highest offset."""
    entries = (entry for answer in answers for entry in answer.partitions)
    best = _freshest(entries, _log_partition, lambda e: e.offset)
    return [best[key] for key in sorted(best)]


def merge_window(answers: Iterable[WindowAnswer]) -> dict[str, int]:
    """Events by type over every (log, partition), each from its freshest answer."""
    entries = (entry for answer in answers for entry in answer.partitions)
    counts: Counter[str] = Counter()
    for entry in _freshest(entries, _log_partition, lambda e: e.offset).values():
        counts.update(entry.event_types)
    return dict(counts)


def merge_abandoned(answers: Iterable[AbandonedAnswer], limit: int) -> list[AbandonedEntry]:
    """Most valuable first; a session two workers report is taken from the fresher one."""
    entries = (item for answer in answers for item in answer.items)
    best = _freshest(entries, itemgetter("session_id"), itemgetter("partition_offset"))
    ranked = sorted(best.values(), key=lambda i: (-i["cart_value_vnd"], i["session_id"]))
    return ranked[:limit]


@dataclass(frozen=True)
class SeenWorker:
    """A worker that beat, and whether it answered the last read of its totals."""

    heartbeat: Heartbeat
    reachable: bool


@dataclass
class Snapshot:
    """The merged totals as of `taken_ms` (wall clock), from the workers that beat.

    A snapshot never changes, so what is computed from it alone is computed once and kept in
    `computed` (under the caller's own key) until the next refresh replaces the snapshot.
    """

    partitions: list[PartitionTotals] = field(default_factory=list)
    workers: list[SeenWorker] = field(default_factory=list)
    taken_ms: int = 0
    computed: dict[Hashable, Any] = field(default_factory=dict, repr=False)

    @property
    def clock_ms(self) -> int:
        """Newest event time any partition has seen: "now" in event time."""
        return max((p.clock_ms for p in self.partitions), default=0)

    @property
    def reachable(self) -> list[Heartbeat]:
        """The workers that answered."""
        return [seen.heartbeat for seen in self.workers if seen.reachable]


#: Makes something of a snapshot for `TablesClient.shared`.
Make = Callable[["Snapshot"], Awaitable[Any]]


class TablesClient:
    """Keeps the merged snapshot fresh and asks the workers it found for ranges and carts."""

    def __init__(
        self,
        source: WorkerSource,
        refresh_s: float = 0.25,
        prepare: Callable[[Snapshot], None] | None = None,
    ) -> None:
        self.source = source
        self.refresh_s = refresh_s
        self.prepare = prepare
        self.snapshot = Snapshot()
        #: what `shared` was asked lately, oldest first: key -> (how to make it, when asked)
        self._hot: dict[Hashable, tuple[Make, float]] = {}
        #: idle threshold in hours -> the most carts asked for
        self._limits: dict[int, int] = {}

    async def run_forever(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.refresh_s)

    async def refresh(self) -> Snapshot:
        workers = await self.source.live()
        answers = await _ask(workers, self.source.totals)
        snapshot = await asyncio.to_thread(self._merged, workers, answers)
        now = time.monotonic()
        self._hot = {k: hot for k, hot in self._hot.items() if now - hot[1] < HOT_S}
        if self._hot and snapshot.reachable:
            made = (self._made(snapshot, key, make) for key, (make, _) in self._hot.items())
            await asyncio.gather(*made, return_exceptions=True)
        self.snapshot = snapshot
        return snapshot

    def _merged(self, workers: list[Heartbeat], answers: list[TotalsAnswer | None]) -> Snapshot:
        snapshot = Snapshot(
            partitions=merge_totals(a for a in answers if a is not None),
            workers=[
                SeenWorker(worker, answer is not None)
                for worker, answer in zip(workers, answers, strict=True)
            ],
            taken_ms=int(time.time() * 1000),
        )
        if self.prepare is not None and snapshot.reachable:
            self.prepare(snapshot)
        return snapshot

    async def shared(self, snapshot: Snapshot, key: Hashable, make: Make) -> Any:
        """What `make` makes of the snapshot, made once per snapshot for every request that
        wants it; what was asked in the last `HOT_S` (at most `HOT_KEYS` keys) each refresh makes
        before it publishes its snapshot, so requests find it made."""
        self._hot.pop(key, None)
        self._hot[key] = (make, time.monotonic())
        if len(self._hot) > HOT_KEYS:
            del self._hot[next(iter(self._hot))]
        return await self._made(snapshot, key, make)

    async def _made(self, snapshot: Snapshot, key: Hashable, make: Make) -> Any:
        held = cast("asyncio.Future[Any] | None", snapshot.computed.get(key))
        if held is None or (held.done() and (held.cancelled() or held.exception() is not None)):
            held = snapshot.computed[key] = asyncio.ensure_future(make(snapshot))
        return await asyncio.shield(held)

    async def window(self, query: WindowQuery, snapshot: Snapshot | None = None) -> dict[str, int]:
        """Events by type in the minutes that overlap the query's range."""
        workers = (snapshot or self.snapshot).reachable
        answers = await _ask(workers, lambda worker: self.source.window(worker, query))
        return merge_window(a for a in answers if a is not None)

    async def abandoned(
        self, query: AbandonedQuery, snapshot: Snapshot | None = None
    ) -> list[AbandonedEntry]:
        workers = (snapshot or self.snapshot).reachable
        answers = await _ask(workers, lambda worker: self.source.abandoned(worker, query))
        found = [a for a in answers if a is not None]
        return await asyncio.to_thread(merge_abandoned, found, query.limit)

    async def abandoned_carts(
        self, snapshot: Snapshot, hours: int, limit: int
    ) -> list[AbandonedEntry]:
        """The `limit` most valuable carts idle at least `hours` in the snapshot's event time,
        from the workers' ranking of the most carts asked at that threshold (its first `limit`
        are the ranking of `limit`), shared per snapshot."""
        most = self._limits[hours] = max(self._limits.get(hours, 0), limit)

        async def carts(of: Snapshot) -> list[AbandonedEntry]:
            idle_before = of.clock_ms - hours * HOUR_MS
            return await self.abandoned(AbandonedQuery(limit=most, idle_before_ms=idle_before), of)

        found: list[AbandonedEntry] = await self.shared(snapshot, ("abandoned", hours, most), carts)
        return found[:limit]


async def _ask(
    workers: list[Heartbeat], question: Callable[[Heartbeat], Awaitable[A]]
) -> list[A | None]:
    """Each worker's answer, None for one that did not give it."""

    async def ask(worker: Heartbeat) -> A | None:
        try:
            return await question(worker)
        except WorkerUnavailableError as exc:
            log.warning("%s", exc)
            return None

    return list(await asyncio.gather(*(ask(worker) for worker in workers)))
