"""The worker's tables: Faust changelog-backed tables, written with the partition chosen by us.

Faust picks a changelog partition from the "current event", which a batch of many partitions'
events does not have; so the aggregator's writes go to the store and, as changelog records, to
the partition the key belongs to (changelog.py sends them). Recovery then restores each
partition's keys from its own changelog partition. A crash before the records are stored loses
at most a suffix of them, whose events were not yet acknowledged: they are redelivered, and the
offsets in the values count them once.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import faust
import orjson
from faust.types import TableT
from sortedcontainers import SortedList

from cartsim.stream_processors.aggregate import (
    TABLE_NAMES,
    Aggregator,
    Rules,
    Store,
    Write,
    totals_key,
)
from cartsim.stream_processors.changelog import Change
from cartsim.stream_processors.validation import check

_HELP = {
    "totals": "per source partition: counts, products, funnel, revenue, event-time clock",
    "minutes": "per source partition and minute of event time: events by type",
    "sessions": "per session: customer, cart, checkout stage, last activity",
    "abandoned": "per abandoned session: the cart a remarketing mailer needs",
}


def declare_tables(app: faust.App, partitions: int) -> dict[str, TableT]:
    return {
        name: app.Table(
            name,
            key_type=bytes,  # bytes -> Faust's "raw" codec, for keys, values and changelogs
            value_type=bytes,
            partitions=partitions,
            help=_HELP[name],
        )
        for name in TABLE_NAMES
    }


def store_of(table: Any) -> Store:
    """The plain dict behind a memory-store table (the aggregator reads it from a thread)."""
    return table.data.data


@dataclass
class AbandonedIndex:
    """Abandoned carts by value and by last activity, so the most valuable idle ones are found
    without a scan whatever the idle threshold: few idle carts are ranked from the time order,
    many are met soon in the value order."""

    entries: SortedList = field(default_factory=SortedList)  # (-value, last activity, sid)
    idle: SortedList = field(default_factory=SortedList)  # (last activity, sid)
    by_session: dict[bytes, tuple[tuple[int, int, bytes], int]] = field(default_factory=dict)
    counts: Counter[int] = field(default_factory=Counter)  # per partition

    def put(self, sid: bytes, record: dict[str, Any]) -> None:
        self.drop(sid)
        entry = (-record["cart_value_vnd"], record["last_activity_unix"], sid)
        self.entries.add(entry)
        self.idle.add((entry[1], sid))
        self.by_session[sid] = (entry, record["p"])
        self.counts[record["p"]] += 1

    def drop(self, sid: bytes) -> None:
        found = self.by_session.pop(sid, None)
        if found is not None:
            entry, partition = found
            self.entries.remove(entry)
            self.idle.remove((entry[1], sid))
            self.counts[partition] -= 1

    def rebuild(self, store: Store, partitions: set[int]) -> None:
        self.entries.clear()
        self.idle.clear()
        self.by_session.clear()
        self.counts.clear()
        for sid, raw in store.items():
            record = orjson.loads(raw)
            if record["p"] in partitions:
                self.put(sid, record)

    def most_valuable(self, idle_before_ms: int, limit: int) -> list[bytes]:
        """The `limit` most valuable carts last active at or before `idle_before_ms`.

        Walking the value order until `limit` idle carts are met takes about
        limit * carts / idle steps; ranking the idle ones takes about `idle`: the cheaper wins.
        """
        idle = self.idle.bisect_left((idle_before_ms + 1,))
        if idle * idle <= limit * len(self.entries):
            ranked = heapq.nsmallest(
                limit, (self.by_session[sid][0] for _, sid in self.idle.islice(0, idle))
            )
            return [sid for _, _, sid in ranked]
        found = []
        for _, last_activity, sid in self.entries:
            if last_activity <= idle_before_ms:
                found.append(sid)
                if len(found) == limit:
                    break
        return found


@dataclass
class Applied:
    """What one partition's batch did: table writes, abandoned carts to publish, the records
    that were not cart events (offset, value, reason), and the offsets the files skip."""

    writes: list[Write]
    published: list[dict[str, Any]]
    dead: list[tuple[int, bytes, str]]
    unstored: set[int]


class WorkerState:
    """The aggregator over the worker's Faust tables, and the index that serves them."""

    def __init__(
        self, tables: dict[str, TableT], rules: Rules, max_event_bytes: int = 64 * 1024
    ) -> None:
        self.max_event_bytes = max_event_bytes
        self.log = ""  # the Kafka log these tables belong to, known once the worker starts
        self.tables = tables
        self.stores = {name: store_of(table) for name, table in tables.items()}
        self.aggregator = Aggregator(self.stores, rules)
        self.abandoned = AbandonedIndex()

    @cached_property
    def changelogs(self) -> dict[str, str]:
        """Each table's changelog topic (named from the app id, so known only once configured)."""
        return {name: t.changelog_topic.get_topic_name() for name, t in self.tables.items()}

    @property
    def partitions(self) -> set[int]:
        return set(self.aggregator.partitions)

    def recovered(self, partitions: set[int]) -> None:
        """After recovery: index what the changelogs restored for the partitions we own.

        Runs on the loop, once per rebalance, before the agents resume.
        """
        self.aggregator.partitions.clear()
        self.aggregator.assign(partitions)
        self.abandoned.rebuild(self.stores["abandoned"], partitions)

    def next_offsets(self, partitions: Iterable[int]) -> dict[int, int]:
        """Per partition the tables hold, the first offset they have not decided yet."""
        found = {}
        for partition in partitions:
            raw = self.stores["totals"].get(totals_key(partition))
            if raw is not None:
                found[partition] = orjson.loads(raw)["o"] + 1
        return found

    def apply(self, partition: int, records: list[tuple[int, bytes]]) -> Applied:
        """Check, decode and aggregate one partition's batch; pure CPU work, for a thread."""
        events, dead = [], []
        limit = self.max_event_bytes
        for offset, value in records:
            event, reason = check(value, limit)
            if event is None:
                dead.append((offset, value, reason or ""))
            else:
                events.append((offset, event))
        writes, published, repeated = self.aggregator.apply(
            partition, events, [offset for offset, _, _ in dead]
        )
        return Applied(writes, published, dead, {o for o, _, _ in dead}.union(repeated))

    def write(self, partition: int, writes: Iterable[Write]) -> dict[tuple[str, int], list[Change]]:
        """Put the writes in the tables; return them as changelog records, by topic and partition.

        On the loop: the web views read the same stores.
        """
        changes: dict[tuple[str, int], list[Change]] = defaultdict(list)
        for name, key, value in writes:
            store = self.stores[name]
            if value is None:
                store.pop(key, None)
            else:
                store[key] = value
            changes[self.changelogs[name], partition].append((key, value))
            if name == "abandoned":
                if value is None:
                    self.abandoned.drop(key)
                else:
                    self.abandoned.put(key, orjson.loads(value))
        return changes

    def reset(self, floors: dict[int, int]) -> dict[tuple[str, int], list[Change]]:
        """Empty the tables of these partitions (for a replace); returns the changelog records."""
        changes: dict[tuple[str, int], list[Change]] = {}
        for partition, floor in floors.items():
            changes.update(self.write(partition, self.aggregator.reset(partition, floor)))
        return changes

    def revoke(self, partitions: set[int]) -> None:
        """Another worker owns these now: forget them here (their changelogs stay)."""
        for name, key in list(self.aggregator.revoke(partitions)):
            self.stores[name].pop(key, None)
            if name == "abandoned":
                self.abandoned.drop(key)
