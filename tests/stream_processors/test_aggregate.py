"""The aggregator on its own: tables equal an independent recount, even across crashes."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import murmur2

from cartsim.producer.catalog import load_catalog
from cartsim.producer.journeys import backfill
from cartsim.settings import Settings
from cartsim.stream_processors.aggregate import Aggregator, Rules, Write
from tests.recount import Recount, recount

PARTITIONS = 4
Tables = dict[str, dict[bytes, bytes]]


@pytest.fixture(scope="module")
def partitioned(tmp_path_factory: pytest.TempPathFactory) -> list[list[dict[str, Any]]]:
    """30,000 backfilled events over two days, split by session like Kafka's partitioner."""
    products = load_catalog(tmp_path_factory.mktemp("catalog") / "products.json.gz")
    start, end = datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 12, tzinfo=UTC)
    partitions: list[list[dict[str, Any]]] = [[] for _ in range(PARTITIONS)]
    for key, value in backfill(5, start, end, 30_000, products):
        partitions[(murmur2(key) & 0x7FFFFFFF) % PARTITIONS].append(orjson.loads(value))
    return partitions


def new_tables() -> Tables:
    return {name: {} for name in ("totals", "minutes", "sessions", "abandoned")}


def write(tables: Tables, writes: list[Write]) -> None:
    for name, key, value in writes:
        if value is None:
            tables[name].pop(key, None)
        else:
            tables[name][key] = value


def merged(tables: Tables) -> dict[str, Any]:
    """What the API adds up: every partition's totals, windows and abandoned carts."""
    totals = [orjson.loads(v) for v in tables["totals"].values()]
    out: dict[str, Any] = defaultdict(lambda: defaultdict(int))
    for t in totals:
        for name in ("event_type", "source", "device", "browser", "funnel"):
            for key, count in t[name].items():
                out[name][key] += count
        for product, stats in t["products"].items():
            out["products"][int(product)] = [
                a + b
                for a, b in zip(out["products"].get(int(product), [0] * 5), stats, strict=True)
            ]
    out["revenue_vnd"] = sum(t["revenue_vnd"] for t in totals)
    out["orders"] = sum(t["orders"] for t in totals)
    for key, raw in tables["minutes"].items():
        minute = int(key.split(b":")[1])
        for kind, count in orjson.loads(raw)["counts"].items():
            out["minutes"][(minute, kind)] += count
    out["abandoned"] = {
        k.decode(): orjson.loads(v)["cart_value_vnd"] for k, v in tables["abandoned"].items()
    }
    return out


def assert_equal(tables: Tables, expected: Recount) -> None:
    got = merged(tables)
    for name in ("event_type", "source", "device", "browser", "funnel"):
        assert dict(got[name]) == dict(getattr(expected, name)), name
    assert dict(got["products"]) == {k: v for k, v in expected.products.items() if k is not None}
    assert got["revenue_vnd"] == expected.revenue_vnd and got["orders"] == expected.orders
    assert dict(got["minutes"]) == dict(expected.minutes)
    assert got["abandoned"] == expected.abandoned


def run(partitions: list[list[dict]], batch: int, crash_every: int = 0, seed: int = 0) -> Tables:
    """Feed batches like the agent does; with `crash_every`, lose part of some batches' writes
    (a SIGKILL mid-flush) and redeliver from the last committed offset."""
    rng = random.Random(seed)
    tables = new_tables()
    aggregator = Aggregator(tables, Rules.of(Settings(window_retention_s=10**9)))
    for partition, events in enumerate(partitions):
        committed = 0
        position = 0
        batches = 0
        while position < len(events):
            chunk = [(o, events[o]) for o in range(position, min(position + batch, len(events)))]
            writes, *_ = aggregator.apply(partition, chunk)
            batches += 1
            if crash_every and batches % crash_every == 0:
                # each changelog partition keeps a prefix of what was sent: the rest is lost
                for name in tables:
                    mine = [w for w in writes if w[0] == name]
                    write(tables, mine[: rng.randint(0, len(mine))])
                aggregator = Aggregator(tables, aggregator.rules)  # a new worker process
                position = committed
                continue
            write(tables, writes)
            position = committed = chunk[-1][0] + 1
    return tables


def test_tables_equal_a_recount(partitioned: list[list[dict]]) -> None:
    assert_equal(run(partitioned, batch=700), recount(partitioned))


def test_batch_size_does_not_change_the_result(partitioned: list[list[dict]]) -> None:
    assert merged(run(partitioned, batch=1)) == merged(run(partitioned, batch=5000))


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_lost_writes_and_redelivery_count_nothing_twice(
    partitioned: list[list[dict]], seed: int
) -> None:
    tables = run(partitioned, batch=400, crash_every=3, seed=seed)
    assert_equal(tables, recount(partitioned))


def test_calibrated_stream_abandons_carts(partitioned: list[list[dict]]) -> None:
    expected = recount(partitioned)
    assert len(expected.abandoned) > 100  # the comparisons above are not vacuous
    assert expected.funnel["purchased"] > 50


def test_a_returning_shopper_takes_the_cart_out_again() -> None:
    def event(offset: int, kind: str, minute: int) -> tuple[int, dict[str, Any]]:
        stamp = 1_800_000_000_000 + minute * 60_000
        return offset, {
            "event_id": f"e{offset}", "event_type": kind, "timestamp": str(stamp),
            "timestamp_unix": stamp, "session_id": "s1" if offset < 3 else f"s{offset}",
            "customer_id": 7, "is_guest": False, "source": "website", "device": "mobile",
            "browser": "Chrome", "product_id": 1, "product_name": "Phone",
            "product_price_vnd": 100, "quantity": 2, "line_total_vnd": 200,
        }  # fmt: skip

    tables = new_tables()
    aggregator = Aggregator(tables, Rules.of(Settings(abandon_after_s=30 * 60)))
    writes, published, _ = aggregator.apply(
        0, [event(0, "view_item", 0), event(1, "add_to_cart", 1)]
    )
    write(tables, writes)
    assert not published
    writes, published, _ = aggregator.apply(0, [event(5, "scroll", 40)])  # 39 idle minutes later
    write(tables, writes)
    assert [(p["session_id"], p["abandoned"], p["cart_value_vnd"]) for p in published] == [
        ("s1", True, 200)
    ]
    assert b"s1" in tables["abandoned"]
    writes, published, _ = aggregator.apply(0, [event(2, "view_item", 41)])
    write(tables, writes)
    assert published == [{"session_id": "s1", "abandoned": False, "p": 0}]
    assert b"s1" not in tables["abandoned"]


def test_a_reset_partition_counts_only_events_from_its_floor(
    partitioned: list[list[dict]],
) -> None:
    events = partitioned[0]
    tables = new_tables()
    aggregator = Aggregator(tables, Rules.of(Settings(window_retention_s=10**9)))
    write(tables, aggregator.apply(0, list(enumerate(events[:1000])))[0])
    write(tables, aggregator.reset(0, 1200))
    assert list(tables["sessions"]) == [] and list(tables["minutes"]) == []

    restarted = Aggregator(tables, aggregator.rules)  # the floor is in the recovered totals
    write(tables, restarted.apply(0, list(enumerate(events))[1000:])[0])
    assert_equal(tables, recount([events[1200:]]))


def _faulty_run(raw: list[list[bytes]], rules: Rules, crash_every: int, seed: int) -> Tables:
    """Raw values through the worker's check and the aggregator, with crashes as in `run`."""
    from cartsim.stream_processors.validation import check

    rng = random.Random(seed)
    tables = new_tables()
    aggregator = Aggregator(tables, rules)
    for partition, values in enumerate(raw):
        position = batches = 0
        while position < len(values):
            events, dead = [], []
            for offset in range(position, min(position + 400, len(values))):
                event, _ = check(values[offset], 64 * 1024)
                if event is None:
                    dead.append(offset)
                else:
                    events.append((offset, event))
            writes, *_ = aggregator.apply(partition, events, dead)
            batches += 1
            if crash_every and batches % crash_every == 0:
                for name in tables:
                    mine = [w for w in writes if w[0] == name]
                    write(tables, mine[: rng.randint(0, len(mine))])
                aggregator = Aggregator(tables, rules)
                continue
            write(tables, writes)
            position = min(position + 400, len(values))
    return tables


@pytest.mark.parametrize("seed", [21, 22])
def test_faults_leave_the_tables_as_the_clean_stream_does(seed: int) -> None:
    """Duplicates, late, reordered and malformed records, and lost writes: the tables hold
    what the clean stream gives, and count each fault once."""
    from cartsim.producer.catalog import build_catalog
    from cartsim.producer.faults import Injector
    from cartsim.truth import FaultOptions

    start, end = datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC)
    clean = list(backfill(seed, start, end, 20_000, build_catalog()))
    options = FaultOptions(
        duplicates=0.02, late=0.03, late_delay_ms=120_000, reorder=0.05, malformed=0.005
    )
    injector = Injector(options, seed)
    out = injector.feed(clean) + injector.drain()

    def by_partition(records: list[tuple[bytes, bytes]]) -> list[list[bytes]]:
        split: list[list[bytes]] = [[] for _ in range(PARTITIONS)]
        for key, value in records:
            split[(murmur2(key) & 0x7FFFFFFF) % PARTITIONS].append(value)
        return split

    rules = Rules.of(Settings(window_retention_s=10**9))
    want = merged(_faulty_run(by_partition(clean), rules, 0, seed))
    got_tables = _faulty_run(by_partition([r for r, _ in out]), rules, 3, seed)
    got = merged(got_tables)
    for name in ("event_type", "source", "device", "browser", "funnel", "products", "minutes"):
        assert got[name] == want[name], name
    assert (got["revenue_vnd"], got["orders"]) == (want["revenue_vnd"], want["orders"])
    assert got["abandoned"] == want["abandoned"]
    counts = defaultdict(int)
    for raw in got_tables["totals"].values():
        for name in ("dead_letters", "duplicates", "too_late"):
            counts[name] += orjson.loads(raw)[name]
    injected = defaultdict(int)
    for _, fault in out:
        if fault is not None:
            injected[fault.kind] += 1
    # a repeat sent hours of event time later finds its session expired: too late instead
    assert counts["dead_letters"] == injected["malformed"]
    assert counts["duplicates"] + counts["too_late"] == injected["duplicate"]
    assert counts["duplicates"] > 0.9 * injected["duplicate"]
