"""The worker's views over its tables: date-range sums and the most valuable idle carts."""

from __future__ import annotations

import random
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from cartsim.api.tables import merge_window
from cartsim.settings import Settings
from cartsim.stream_processors.aggregate import Rules, minute_key, new_totals, totals_key
from cartsim.stream_processors.state import AbandonedIndex
from cartsim.stream_processors.views import Parsed, abandoned, totals, window
from cartsim.worker_views import (
    MAX_ABANDONED,
    MINUTE_MS,
    AbandonedQuery,
    PartitionWindow,
    WindowAnswer,
    WindowQuery,
    encode_answer,
)
from tests.api.fake_workers import store_events, tables_of_files

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


def totals_at(partition: int, offset: int) -> bytes:
    return orjson.dumps({**new_totals(partition), "o": offset})


def random_minutes(rng: random.Random, tables: Tables, partitions: int, minutes: int) -> dict:
    """Fill the minutes of `partitions`; returns (partition, minute, kind) -> events."""
    expected = {}
    for partition in range(partitions):
        tables.stores["totals"][totals_key(partition)] = totals_at(partition, 1000 + partition)
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
            tables.stores["totals"][totals_key(1)] = totals_at(1, 5000)
            offsets[1] = 5000
        query = WindowQuery(start_ms=start_ms, end_ms=end_ms)
        answer = window([tables], query, parsed).partitions
        assert [(e.log, e.partition, e.offset) for e in answer] == [
            ("log-a", p, offsets[p]) for p in range(3)
        ]
        first, last = start_ms // MINUTE_MS, -(-end_ms // MINUTE_MS)  # overlapped minutes
        for entry in answer:
            want: dict[str, int] = {}
            for (partition, minute, kind), events in expected.items():
                if partition == entry.partition and first <= minute < last:
                    want[kind] = want.get(kind, 0) + events
            assert entry.event_types == want
        assert start_ms == end_ms or any(entry.event_types for entry in answer)


def test_merging_windows_takes_each_partition_from_its_freshest_answer() -> None:
    def answer(*entries: tuple[str, int, dict[str, int]]) -> WindowAnswer:
        return WindowAnswer(
            partitions=[
                PartitionWindow(log=log, partition=0, offset=offset, event_types=counts)
                for log, offset, counts in entries
            ]
        )

    stale = ("a", 5, {"view_item": 1})
    fresh = ("a", 9, {"view_item": 4, "purchase": 1})
    other = ("b", 1, {"view_item": 10})
    assert merge_window([answer(stale, other), answer(fresh)]) == {"view_item": 14, "purchase": 1}
    assert merge_window([answer(fresh), answer(stale)]) == {"view_item": 4, "purchase": 1}


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


def abandoned_value(session_id: str, value: int, last_ms: int) -> dict[str, Any]:
    """An abandoned table's value as the aggregator writes it."""
    return {
        "session_id": session_id,
        "p": 0,
        "o": last_ms,
        "customer_id": None,
        "is_guest": True,
        "city": None,
        "cart": [],
        "cart_value_vnd": value,
        "checkout_stage": "browsing",
        "first_activity_unix": 0,
        "last_activity": "2026-01-01T00:00:00+07:00",
        "last_activity_unix": last_ms,
        "abandoned_at_unix": last_ms,
    }


def test_the_view_ranks_carts_of_every_source_by_value() -> None:
    sources = [Tables("log-a"), Tables("log-b")]
    for n, (source, value) in enumerate([(0, 5), (1, 9), (0, 7), (1, 1), (0, 3)]):
        record = abandoned_value(f"s{n}", value, n)
        sources[source].stores["abandoned"][b"s%d" % n] = orjson.dumps(record)
        sources[source].abandoned.put(b"s%d" % n, record)
    for source in sources:
        source.stores["totals"][totals_key(0)] = totals_at(0, 42)
    query = AbandonedQuery(limit=3, idle_before_ms=3)
    items = abandoned(sources, query, Parsed()).items
    assert [(i["session_id"], i["log"], i["partition"], i["partition_offset"]) for i in items] == [
        ("s1", "log-b", 0, 42),
        ("s2", "log-a", 0, 42),
        ("s0", "log-a", 0, 42),
    ]


def test_the_answers_built_without_validation_are_exactly_the_contract_s_models(
    tmp_path: Path,
) -> None:
    """Each answer validates as its model, and its JSON is the one pydantic writes for it."""
    store_events(tmp_path, 2_000, seed=8, rate=2.0)  # 17 minutes of event time
    sources = tables_of_files(tmp_path, Rules.of(Settings(abandon_after_s=60)))
    parsed = Parsed()
    served = totals(sources, parsed)
    carts = abandoned(sources, AbandonedQuery(limit=MAX_ABANDONED, idle_before_ms=2**62), parsed)
    clock_ms = max(entry.clock_ms for entry in served.partitions)
    sums = window(sources, WindowQuery.ending(0, clock_ms + 1), parsed)
    assert served.partitions and all(entry.products.product_id for entry in served.partitions)
    assert carts.items and all(entry["cart"] for entry in carts.items)
    assert all(entry.event_types for entry in sums.partitions)
    for answer in (served, carts, sums):
        body = encode_answer(answer)
        assert body == answer.model_dump_json().encode()
        assert type(answer).model_validate_json(body).model_dump_json().encode() == body
