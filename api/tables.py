"""The worker's tables, read over their web views and merged into one picture.

Workers announce themselves in heartbeat files (`cartsim.registry`). Each answers for its own
partitions, and for the tables rebuilt from earlier logs' files; for every (log, partition) the
answer that reached the highest offset wins, so a partition moving between workers, or history
every worker reports, counts once. A background task keeps a merged snapshot fresh (every
`refresh_s`), so /cart/statistics reads memory; /cart/abandoned and date ranges ask the workers
the snapshot found, per request, and the workers sum a date range's minutes themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, cast

import aiohttp
import orjson

from cartsim.registry import live_workers
from cartsim.storage import Layout

log = logging.getLogger(__name__)

Partition = dict[str, Any]  # {"log", "partition", "totals", "abandoned"}


def _freshest(
    answers: Iterable[Iterable[dict[str, Any]]],
    identity: Callable[[dict[str, Any]], Hashable],
    offset: Callable[[dict[str, Any]], int],
) -> dict[Hashable, dict[str, Any]]:
    """Per identity, the entry whose partition reached the highest offset."""
    best: dict[Hashable, dict[str, Any]] = {}
    for answer in answers:
        for entry in answer:
            key = identity(entry)
            if key not in best or offset(entry) > offset(best[key]):
                best[key] = entry
    return best


def _log_partition(entry: dict[str, Any]) -> tuple[str, int]:
    return entry["log"], entry["partition"]


def merge_partitions(answers: Iterable[Iterable[Partition]]) -> list[Partition]:
    """One entry per (log, partition): the one whose totals reached the highest offset."""
    best = _freshest(answers, _log_partition, lambda e: e["totals"]["o"])
    return [best[key] for key in sorted(best, key=lambda k: cast("tuple[str, int]", k))]


def merge_minutes(answers: Iterable[Iterable[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per (log, partition, minute): the one that took the most events."""
    best = _freshest(answers, lambda r: (r["log"], r["partition"], r["minute"]), itemgetter("o"))
    return list(best.values())


def merge_window(answers: Iterable[Iterable[dict[str, Any]]]) -> dict[str, int]:
    """Events by type over every (log, partition), each from its freshest answer."""
    counts: dict[str, int] = {}
    for entry in _freshest(answers, _log_partition, itemgetter("o")).values():
        for kind, events in entry["counts"].items():
            counts[kind] = counts.get(kind, 0) + events
    return counts


def merge_abandoned(
    answers: Iterable[Iterable[dict[str, Any]]], limit: int
) -> list[dict[str, Any]]:
    """Most valuable first; a session two workers report is taken from the fresher one."""
    best = _freshest(answers, itemgetter("session_id"), itemgetter("partition_offset"))
    ranked = sorted(best.values(), key=lambda i: (-i["cart_value_vnd"], i["session_id"]))
    return ranked[:limit]


@dataclass
class Snapshot:
    """The merged tables as of `taken_ms` (wall clock), from `workers` live workers.

    A snapshot never changes, so what is computed from it alone is computed once and kept in
    `computed` (under the caller's own key) until the next refresh replaces the snapshot.
    """

    partitions: list[Partition] = field(default_factory=list)
    workers: list[dict[str, Any]] = field(default_factory=list)
    taken_ms: int = 0
    computed: dict[Hashable, Any] = field(default_factory=dict, repr=False)

    @property
    def clock_ms(self) -> int:
        """Newest event time any partition has seen: "now" in event time."""
        return max((p["totals"]["clock_ms"] for p in self.partitions), default=0)


class TablesClient:
    """Reads the workers' views with aiohttp: a call took 0.16 ms of client and server time on
    loopback against 0.88 ms with httpx, and the API makes one per date range or abandoned-carts
    request and per refresh."""

    def __init__(self, layout: Layout, refresh_s: float = 0.25, timeout_s: float = 2.0) -> None:
        self.layout = layout
        self.refresh_s = refresh_s
        self.snapshot = Snapshot()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        """The session, opened on first use (it belongs to the running event loop)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def run_forever(self) -> None:
        while True:
            with contextlib.suppress(aiohttp.ClientError, ValueError):
                await self.refresh()
            await asyncio.sleep(self.refresh_s)

    async def refresh(self) -> Snapshot:
        workers = await asyncio.to_thread(live_workers, self.layout)
        answers = await self._ask(workers, "/cartsim/state", {})
        self.snapshot = Snapshot(
            partitions=merge_partitions(a["partitions"] for a in answers if a is not None),
            workers=[
                {**worker, "reachable": answer is not None}
                for worker, answer in zip(workers, answers, strict=True)
            ],
            taken_ms=int(time.time() * 1000),
        )
        return self.snapshot

    def _reachable(self) -> list[dict[str, Any]]:
        """The workers that answered the last refresh (the heartbeat files are read there)."""
        return [worker for worker in self.snapshot.workers if worker["reachable"]]

    async def minutes(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        params = {"start_ms": start_ms, "end_ms": end_ms}
        answers = await self._ask(self._reachable(), "/cartsim/minutes", params)
        return merge_minutes(a["minutes"] for a in answers if a is not None)

    async def window(self, start_ms: int, end_ms: int) -> dict[str, int]:
        """Events by type in the minutes that overlap [start_ms, end_ms)."""
        params = {"start_ms": start_ms, "end_ms": end_ms}
        answers = await self._ask(self._reachable(), "/cartsim/window", params)
        return merge_window(a["partitions"] for a in answers if a is not None)

    async def abandoned(self, limit: int, idle_before_ms: int) -> list[dict[str, Any]]:
        params = {"limit": limit, "idle_before_ms": idle_before_ms}
        answers = await self._ask(self._reachable(), "/cartsim/abandoned", params)
        return merge_abandoned((a["items"] for a in answers if a is not None), limit)

    async def _ask(
        self, workers: list[dict[str, Any]], path: str, params: dict[str, int]
    ) -> list[dict[str, Any] | None]:
        async def ask(worker: dict[str, Any]) -> dict[str, Any] | None:
            try:
                async with self._http().get(worker["url"] + path, params=params) as response:
                    response.raise_for_status()
                    return cast("dict[str, Any]", orjson.loads(await response.read()))
            except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
                log.warning("worker %s did not answer %s: %s", worker["url"], path, exc)
                return None

        return list(await asyncio.gather(*(ask(worker) for worker in workers)))
