"""The worker's views over its tables: date-range sums and the most valuable idle carts."""

from __future__ import annotations

import random
from collections.abc import MutableMapping
from dataclasses import dataclass, field

import orjson
import pytest

from cartsim.api.tables import merge_window
from cartsim.stream_processors.aggregate import MINUTE_MS, minute_key, totals_key
from cartsim.stream_processors.state import AbandonedIndex
from cartsim.stream_processors.views import Parsed, abandoned, window

KINDS = ("view_item", "add_to_cart", "purchase", "exit_page", "teleport")  # one unknown


@dataclass
class Tables:
    log: str
    stores: dict[str, MutableMapping[bytes, bytes]] = field(
        default_factory=lambda: {"totals": {}, "minutes": {}, "abandoned": {}}
    )
    abandoned: AbandonedIndex = field(default_factory=AbandonedIndex)

    @property
    def partitions(self) -> set[int]:
        return {int(key[1:]) for key in self.stores["totals"]}


def random_minutes(rng: random.Random, tables: Tables, partitions: int, minutes: int) -> dict:
    """Fill the minutes of `partitions`; returns (partition, minute, kind) -> events."""
    expected = {}
    for partition in range(partitions):
        tables.stores["totals"][totals_key(partition)] = orjson.dumps({"o": 1000 + partition})
        for minute in range(minutes):
            if rng.random() < 0.2:
                continue  # a quiet minute has no window
            counts = {kind: rng.randrange(1, 50) for kind in rng.sample(KINDS, 2)}
            tables.stores["minutes"][minute_key(partition, minute)] = orjson.dumps(
                {"o": minute, "counts": counts}
            )
            expected.update({(partition, minute, k): n for k, n in counts.items()})
    return expected


def test_a_window_sums_every_minute_it_overlaps_per_partition() -> None:
    rng = random.Random(3)
    tables = Tables("log-a")
    expected = random_minutes(rng, tables, partitions=3, minutes=600)
    parsed = Parsed()
    offsets = {p: 1000 + p for p in range(3)}
    spans = [(0, 600 * MINUTE_MS), (90_500, 7_200_001), (59_999, 60_001), (5, 5)]
    for start_ms, end_ms in spans + spans:  # the second time from parsed minutes
        if (start_ms, end_ms) == spans[1]:  # a minute changes: its new value is read
            key = minute_key(1, 100)
            tables.stores["minutes"][key] = orjson.dumps({"o": 1, "counts": {"purchase": 7}})
            expected = {k: n for k, n in expected.items() if k[:2] != (1, 100)}
            expected[(1, 100, "purchase")] = 7
            tables.stores["totals"][totals_key(1)] = orjson.dumps({"o": 5000})
            offsets[1] = 5000
        answer = window([tables], start_ms, end_ms, parsed)["partitions"]
        assert [(e["log"], e["partition"], e["o"]) for e in answer] == [
            ("log-a", p, offsets[p]) for p in range(3)
        ]
        first, last = start_ms // MINUTE_MS, -(-end_ms // MINUTE_MS)  # overlapped minutes
        for entry in answer:
            want: dict[str, int] = {}
            for (partition, minute, kind), events in expected.items():
                if partition == entry["partition"] and first <= minute < last:
                    want[kind] = want.get(kind, 0) + events
            assert entry["counts"] == want
        assert start_ms == end_ms or any(entry["counts"] for entry in answer)


def test_merging_windows_takes_each_partition_from_its_freshest_answer() -> None:
    stale = {"log": "a", "partition": 0, "o": 5, "counts": {"view_item": 1}}
    fresh = {"log": "a", "partition": 0, "o": 9, "counts": {"view_item": 4, "purchase": 1}}
    other = {"log": "b", "partition": 0, "o": 1, "counts": {"view_item": 10}}
    assert merge_window([[stale, other], [fresh]]) == {"view_item": 14, "purchase": 1}
    assert merge_window([[fresh], [stale]]) == {"view_item": 4, "purchase": 1}


def _index(rng: random.Random, carts: int) -> tuple[AbandonedIndex, dict[bytes, tuple[int, int]]]:
    index = AbandonedIndex()
    records = {}
    for n in range(carts):
        sid = b"s%05d" % n
        value, last = rng.randrange(1, 40) * 100_000, rng.randrange(0, 10_000)
        index.put(sid, {"cart_value_vnd": value, "last_activity_unix": last, "p": n % 4})
        records[sid] = (value, last)
    for sid in rng.sample(sorted(records), carts // 10):  # taken back, or changed
        if rng.random() < 0.5:
            index.drop(sid)
            del records[sid]
        else:
            value, last = rng.randrange(1, 40) * 100_000, rng.randrange(0, 10_000)
            index.put(sid, {"cart_value_vnd": value, "last_activity_unix": last, "p": 0})
            records[sid] = (value, last)
    return index, records


@pytest.mark.parametrize("limit", [1, 10, 200])
def test_the_most_valuable_idle_carts_whatever_the_threshold(limit: int) -> None:
    rng = random.Random(limit)
    index, records = _index(rng, 2_000)
    assert sum(index.counts.values()) == len(records) == len(index.idle)
    exactly = sorted(last for _, last in records.values())[::150]  # a cart idle since then too
    for idle_before in (-1, 0, 3, 50, 400, 2_500, 7_000, 9_999, 20_000, *exactly):
        brute = sorted(
            (-value, last, sid) for sid, (value, last) in records.items() if last <= idle_before
        )
        assert index.most_valuable(idle_before, limit) == [sid for *_, sid in brute[:limit]]


def test_the_view_ranks_carts_of_every_source_by_value() -> None:
    sources = [Tables("log-a"), Tables("log-b")]
    for n, (source, value) in enumerate([(0, 5), (1, 9), (0, 7), (1, 1), (0, 3)]):
        record = {"session_id": f"s{n}", "cart_value_vnd": value, "last_activity_unix": n, "p": 0}
        sources[source].stores["abandoned"][b"s%d" % n] = orjson.dumps(record)
        sources[source].abandoned.put(b"s%d" % n, record)
    for source in sources:
        source.stores["totals"][totals_key(0)] = orjson.dumps({"o": 42})
    items = abandoned(sources, limit=3, idle_before_ms=3, parsed=Parsed())["items"]
    assert [(i["session_id"], i["log"], i["partition_offset"]) for i in items] == [
        ("s1", "log-b", 42),
        ("s2", "log-a", 42),
        ("s0", "log-a", 42),
    ]
