"""Lines: cut and merged by time without touching events one by one, and split into records."""

from __future__ import annotations

from array import array

from cartsim.generation import BucketJob
from cartsim.producer.catalog import Product
from cartsim.producer.lines import Lines, Reader, interleave
from cartsim.producer.records import session_key
from cartsim.producer.shop import Shop


def lines(*events: tuple[int, bytes]) -> Lines:
    return Lines.of([value for _, value in events], array("q", [ms for ms, _ in events]))


def test_interleave_orders_by_time_and_breaks_ties_as_asked() -> None:
    base = lines((1, b"b1"), (3, b"b3"), (3, b"b3'"), (7, b"b7"))
    extras = lines((0, b"e0"), (3, b"e3"), (9, b"e9"))
    first = interleave(base, extras, extras_first=True)
    assert first.values() == [b"e0", b"b1", b"e3", b"b3", b"b3'", b"b7", b"e9"]
    assert list(first.stamps) == [0, 1, 3, 3, 3, 7, 9]
    after = interleave(base, extras, extras_first=False)
    assert after.values() == [b"e0", b"b1", b"b3", b"b3'", b"e3", b"b7", b"e9"]
    assert bytes(after.data).count(b"\n") == len(after) == 7


def test_split_before_and_reader_cut_at_event_boundaries() -> None:
    many = lines(*((ms, b"v%d" % ms) for ms in range(10)))
    early, late = many.before(4)
    assert early.values() == [b"v0", b"v1", b"v2", b"v3"] and late.stamps[0] == 4
    reader = Reader([early, Lines(), late])
    assert reader.take(3).values() == [b"v0", b"v1", b"v2"]
    assert reader.take(5).values() == [b"v3", b"v4", b"v5", b"v6", b"v7"]
    assert reader.take(5).values() == [b"v8", b"v9"]
    assert not reader.take(5)


def test_records_carry_the_session_key(products: tuple[Product, ...]) -> None:
    shop = Shop(3, products)
    job = BucketJob(index=5, low_ms=1_700_000_000_000, high_ms=1_700_000_600_000, budget=500)
    events = shop.bucket(job)
    assert len(events) > 400
    steps_keys = {key for key, _ in events}
    assert all(key.startswith(b"sess_") and len(key) == 21 for key in steps_keys)
    for key, value in events:
        assert b'"session_id":"' + key + b'"' in value
        assert session_key(value) == key
