"""The workers' tables, as their answers merged into one picture.

Each worker answers for its own partitions, and for the tables rebuilt from earlier logs' files;
for every (log, partition) the answer that reached the highest offset wins, so a partition
moving between workers, or history every worker reports, counts once. A background task keeps a
merged snapshot of the totals fresh (every `refresh_s`), so /cart/statistics reads memory;
date ranges ask the workers the snapshot found, per request, and the workers sum a date range's
minutes themselves. Abandoned carts are asked once per snapshot and idle threshold, and the
thresholds asked lately are fetched again with each refresh, before its snapshot is published.

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
HOUR_MS = 3_600_000
#: How long an idle threshold of /cart/abandoned stays among those each refresh fetches.
ABANDONED_HOT_S = 10.0
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


@dataclass(frozen=True)
class Carts:
    """The most valuable abandoned carts idle at least some hours, for one snapshot."""

    limit: int
    items: list[AbandonedEntry]


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
        #: idle threshold in hours -> (largest limit asked, when last asked: monotonic s)
        self._hot: dict[int, tuple[int, float]] = {}

    async def run_forever(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.refresh_s)

    async def refresh(self) -> Snapshot:
        workers = await self.source.live()
        answers = await _ask(workers, self.source.totals)
        snapshot = await asyncio.to_thread(self._merged, workers, answers)
        now = time.monotonic()
        hot = {h: limit for h, (limit, asked) in self._hot.items() if now - asked < ABANDONED_HOT_S}
        self._hot = {h: self._hot[h] for h in hot}
        if hot and snapshot.reachable:
            fetches = (self._carts(snapshot, h, limit) for h, limit in hot.items())
            await asyncio.gather(*fetches, return_exceptions=True)
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

    async def window(self, query: WindowQuery) -> dict[str, int]:
        """Events by type in the minutes that overlap the query's range."""
        workers = self.snapshot.reachable
        answers = await _ask(workers, lambda worker: self.source.window(worker, query))
        return merge_window(a for a in answers if a is not None)

    async def abandoned(self, query: AbandonedQuery) -> list[AbandonedEntry]:
        workers = self.snapshot.reachable
        answers = await _ask(workers, lambda worker: self.source.abandoned(worker, query))
        return merge_abandoned((a for a in answers if a is not None), query.limit)

    async def abandoned_carts(
        self, snapshot: Snapshot, hours: int, limit: int
    ) -> list[AbandonedEntry]:
        """The `limit` most valuable carts idle at least `hours` in the snapshot's event time:
        asked of the workers once per snapshot and threshold, for the largest limit wanted
        lately (the first `limit` of a longer ranking are the ranking of `limit`)."""
        known, _ = self._hot.get(hours, (0, 0.0))
        self._hot[hours] = (max(known, limit), time.monotonic())
        carts = await self._carts(snapshot, hours, max(known, limit))
        return carts.items[:limit]

    async def _carts(self, snapshot: Snapshot, hours: int, limit: int) -> Carts:
        """The snapshot's carts of `hours`, one fetch shared by every request that wants them;
        another only when the one held has fewer than `limit` or failed."""
        key = ("abandoned", hours)
        held = cast("asyncio.Task[Carts] | None", snapshot.computed.get(key))
        if held is not None and not (held.done() and (held.cancelled() or held.exception())):
            carts = await asyncio.shield(held)
            if carts.limit >= limit:
                return carts
        query = AbandonedQuery(limit=limit, idle_before_ms=snapshot.clock_ms - hours * HOUR_MS)

        async def fetch() -> Carts:
            answers = await _ask(
                snapshot.reachable, lambda worker: self.source.abandoned(worker, query)
            )
            found = [a for a in answers if a is not None]
            return Carts(limit, await asyncio.to_thread(merge_abandoned, found, limit))

        task = asyncio.ensure_future(fetch())
        snapshot.computed[key] = task
        return await asyncio.shield(task)


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
