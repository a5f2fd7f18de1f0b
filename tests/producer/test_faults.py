"""The injector: reproducible, every clean event once, each fault as documented."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import orjson
import pytest
from pydantic import ValidationError

from cartsim.events import CartEvent
from cartsim.moments import VIETNAM
from cartsim.producer.catalog import Product
from cartsim.producer.faults import OVERSIZED_BYTES, Injector, Outgoing, event_id, timestamp_ms
from cartsim.producer.journeys import backfill
from cartsim.producer.records import KeyedEvent
from cartsim.truth import FaultOptions

SHARES = {"duplicate": 0.01, "late": 0.02, "reorder": 0.01, "malformed": 0.01}
FAULTS = FaultOptions(
    duplicates=0.01, late=0.02, late_delay_ms=30_000, reorder=0.01, malformed=0.01
)
MOVED = ("late", "reorder")  # clean events sent at another position


@pytest.fixture(scope="module")
def clean(products: tuple[Product, ...]) -> list[KeyedEvent]:
    start, end = datetime(2024, 11, 1, tzinfo=VIETNAM), datetime(2024, 11, 3, tzinfo=VIETNAM)
    return list(backfill(7, start, end, 30_000, products))


def inject(
    clean: list[KeyedEvent], options: FaultOptions = FAULTS, seed: int = 1
) -> list[Outgoing]:
    injector = Injector(options, seed)
    return injector.feed(clean) + injector.drain()


def test_without_faults_the_stream_is_unchanged(clean: list[KeyedEvent]) -> None:
    assert inject(clean, FaultOptions()) == [(record, None) for record in clean]


def test_the_same_seed_gives_the_same_stream(clean: list[KeyedEvent]) -> None:
    assert inject(clean) == inject(clean)
    assert inject(clean) != inject(clean, seed=2)


def test_fed_in_batches_the_stream_is_the_same(clean: list[KeyedEvent]) -> None:
    injector = Injector(FAULTS, 1)
    batches = [injector.feed(clean[at : at + 777]) for at in range(0, len(clean), 777)]
    assert [item for batch in batches for item in batch] + injector.drain() == inject(clean)


def test_every_clean_event_is_sent_once_and_the_extras_are_labelled(
    clean: list[KeyedEvent],
) -> None:
    out = inject(clean)
    kinds = Counter(fault.kind if fault else "clean" for _, fault in out)
    sent_clean = [record for record, fault in out if fault is None or fault.kind in MOVED]
    assert Counter(sent_clean) == Counter(clean)
    for kind, share in SHARES.items():
        assert abs(kinds[kind] / len(clean) - share) < share / 3, (kind, kinds)
    originals = set(clean)
    for record, fault in out:
        if fault is not None and fault.kind == "duplicate":
            assert record in originals


def test_late_events_keep_their_time_and_come_after_later_ones(clean: list[KeyedEvent]) -> None:
    out = inject(clean)
    stamps = [
        0 if fault is not None and fault.kind == "malformed" else timestamp_ms(record[1])
        for record, fault in out
    ]
    last_clean = max(i for i, (_, fault) in enumerate(out) if fault is None)
    checked = overtaken = 0
    for index, (_, fault) in enumerate(out[:last_clean]):
        if fault is not None and fault.kind == "late":
            assert fault.delay_ms is not None and 0 <= fault.delay_ms <= 10 * 30_000
            overtaken += max(stamps[:index]) > stamps[index]  # later events went first
            following = next(i for i in range(index + 1, len(out)) if out[i][1] is None)
            assert max(stamps[: following + 1]) >= stamps[index] + fault.delay_ms
            checked += 1
    delays = [f.delay_ms or 0 for _, f in out if f is not None and f.kind == "late"]
    assert checked > 500 and overtaken > 0.75 * checked
    assert 20_000 < sum(delays) / len(delays) < 40_000  # mean 30 s


def test_a_reordered_event_follows_its_sessions_next_event(clean: list[KeyedEvent]) -> None:
    out = inject(clean)
    last_of_session = {key: value for key, value in clean}  # cut off by the end: no next
    reordered = swapped = 0
    for index, (record, fault) in enumerate(out):
        if (
            fault is not None
            and fault.kind == "reorder"
            and last_of_session[record[0]] != record[1]
        ):
            reordered += 1
            assert b'"event_type":"exit_page"' not in record[1]
            (key, value), _ = out[index - 1]
            if key == record[0] and event_id(value) > event_id(record[1]):
                assert timestamp_ms(value) >= timestamp_ms(record[1])
                swapped += 1
    assert swapped > 0.9 * reordered  # the rest: the next event was itself held or corrupted


def test_malformed_records_fail_the_event_model(clean: list[KeyedEvent]) -> None:
    kinds = Counter()
    for (key, value), fault in inject(clean):
        if fault is not None and fault.kind == "malformed":
            kinds[fault.malformed] += 1
            assert key == next(k for k, v in clean if fault.event_id.encode() in v)
            if fault.malformed == "oversized":  # a valid event, but no real one is that large
                assert len(value) > OVERSIZED_BYTES
                continue
            with pytest.raises(ValidationError):
                CartEvent.model_validate_json(value)
            if fault.malformed == "truncated_json":
                with pytest.raises(orjson.JSONDecodeError):
                    orjson.loads(value)
    assert set(kinds) == {
        "truncated_json",
        "wrong_type",
        "missing_field",
        "unknown_event_type",
        "oversized",
    }


def test_a_stopped_stream_drains_what_it_holds(clean: list[KeyedEvent]) -> None:
    pulled: list[KeyedEvent] = []
    options = FaultOptions(duplicates=0.1, late=0.1, late_delay_ms=600_000, reorder=0.1)
    injector = Injector(options, 3, on_clean=pulled.append)
    taken = injector.feed(clean[:1000]) + injector.feed(clean[1000:2000])
    rest = injector.drain()
    sent = [r for r, f in taken + rest if f is None or f.kind in MOVED]
    assert any(f is not None and f.kind in MOVED for _, f in rest)
    assert sorted(sent) == sorted(pulled) and len(set(sent)) == len(sent)
