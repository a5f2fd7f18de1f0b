"""The replay loop: order, re-timing, loops, filters, stopping and resuming, bad sources."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from cartsim.producer.catalog import Product
from cartsim.producer.decoding import InvalidEventError
from cartsim.producer.replay import Replay, Status
from cartsim.producer.retime import loop_period_ms
from cartsim.producer.selection import Selection
from cartsim.producer.sources import FileSource, SourceError, StoreSource
from cartsim.producer.targets import OutputError
from cartsim.replay_checkpoint import ReplayCheckpoint, ReplayPlan
from cartsim.storage import Layout
from tests.producer.replaying import Collect, recorded, replay, store


@pytest.fixture(scope="module")
def records(products: tuple[Product, ...]) -> list[tuple[bytes, bytes]]:
    return recorded(products, 6_000)


def by_session(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        grouped[event["session_id"]].append(event)
    return grouped


def test_the_store_is_replayed_once_in_event_time_with_sessions_in_order(
    tmp_path: Path, records: list[tuple[bytes, bytes]]
) -> None:
    target = Collect()
    replay(store(tmp_path, records), target)
    sent = target.events()
    assert sorted(e["event_id"] for e in sent) == sorted(
        orjson.loads(v)["event_id"] for _, v in records
    )
    times = [e["timestamp_unix"] for e in sent]
    assert times == sorted(times)
    recorded_order = by_session([orjson.loads(v) for _, v in records])
    assert by_session(sent) == recorded_order
    assert all(key == orjson.loads(value)["session_id"].encode() for key, value in target.records)
    assert set(target.records) == set(records)  # the recorded bytes, unchanged


def test_retime_moves_the_first_event_to_the_instant_and_keeps_the_gaps(
    tmp_path: Path, records: list[tuple[bytes, bytes]]
) -> None:
    target = Collect()
    at = 1_900_000_000_000
    replay(store(tmp_path, records), target, retime_ms=at)
    sent = target.events()
    original = sorted(orjson.loads(v)["timestamp_unix"] for _, v in records)
    assert sent[0]["timestamp_unix"] == at
    assert [e["timestamp_unix"] - at for e in sent] == [t - original[0] for t in original]
    for event in sent:
        moment = datetime.fromisoformat(event["timestamp"])
        assert round(moment.timestamp() * 1000) == event["timestamp_unix"]
        assert event["timestamp"].endswith("+07:00")


def test_loops_follow_each_other_with_ids_of_their_own(
    tmp_path: Path, records: list[tuple[bytes, bytes]]
) -> None:
    target = Collect()
    replay(store(tmp_path, records[:500]), target, loops=3)
    sent = target.events()
    assert len(sent) == 1_500 and len({e["event_id"] for e in sent}) == 1_500
    loops = [sent[:500], sent[500:1000], sent[1000:]]
    times = [e["timestamp_unix"] for e in sent]
    assert times == sorted(times)
    period = loop_period_ms(times[0], times[499], 500)
    for n, events in enumerate(loops):
        suffix = "" if n == 0 else f"-L{n}"
        for event, first in zip(events, loops[0], strict=True):
            assert event["event_id"] == first["event_id"] + suffix
            assert event["session_id"] == first["session_id"] + suffix
            assert event["timestamp_unix"] == first["timestamp_unix"] + n * period
            if first["order_id"] is not None:
                assert event["order_id"] == first["order_id"] + suffix
    assert target.records[500][0] == (loops[1][0]["session_id"]).encode()


def test_filters_keep_the_range_and_types_and_whole_sampled_sessions(
    tmp_path: Path, records: list[tuple[bytes, bytes]]
) -> None:
    events = [orjson.loads(v) for _, v in records]
    times = sorted(e["timestamp_unix"] for e in events)
    start, end = times[1000], times[4000]
    kinds = frozenset({"view_item", "purchase"})
    target = Collect()
    replay(store(tmp_path, records), target, Selection(start, end, kinds))
    expected = [
        e["event_id"]
        for e in events
        if start <= e["timestamp_unix"] <= end and e["event_type"] in kinds
    ]
    assert sorted(e["event_id"] for e in target.events()) == sorted(expected)

    sessions = by_session(events)
    samples = []
    for seed in (1, 1, 2):
        sampled = Collect()
        replay(StoreSource(Layout(tmp_path)), sampled, Selection(sample=0.25, seed=seed))
        kept = by_session(sampled.events())
        assert all(kept[s] == sessions[s] for s in kept)  # whole sessions
        assert 0.15 < len(kept) / len(sessions) < 0.35
        samples.append(set(kept))
    assert samples[0] == samples[1] != samples[2]


def test_a_stopped_replay_resumes_without_repeating_what_was_acknowledged(
    tmp_path: Path, records: list[tuple[bytes, bytes]]
) -> None:
    source = store(tmp_path, records[:3_000])
    path = tmp_path / "checkpoint.json"
    plan = ReplayPlan(source="store", target="t", loops=2)
    first = Collect()
    job = Replay(source, Selection(), ReplayCheckpoint(plan=plan), path, chunk=700)

    def stop_after_some(status: Status) -> None:
        if status.handed >= 3_500:
            job.stop.set()

    job.on_progress = stop_after_some
    asyncio.run(job.run(first))
    saved = ReplayCheckpoint.load(path)
    assert not saved.finished and (saved.loop, saved.index) == (1, 700)
    assert saved.delivered == len(first.records) == 3_700

    second = Collect()
    replay(source, second, checkpoint=saved, path=path, chunk=700)
    done = ReplayCheckpoint.load(path)
    assert done.finished and done.delivered == 6_000
    ids = [e["event_id"] for e in first.events() + second.events()]
    assert len(ids) == len(set(ids)) == 6_000


def test_invalid_lines_are_counted_and_strict_stops_at_the_first(
    tmp_path: Path, records: list[tuple[bytes, bytes]]
) -> None:
    path = tmp_path / "events.jsonl"
    good = [value for _, value in records[:100]]
    broken = orjson.loads(good[5]) | {"timestamp_unix": "soon"}
    path.write_bytes(b"\n".join([*good[:10], b"not json", orjson.dumps(broken), *good[10:]]))
    target = Collect()
    job = replay(FileSource(path), target)
    assert len(target.records) == 100 and job.rejects.count == 2
    first, second = job.rejects.examples
    assert first.startswith(f"{path} line 11: not JSON")
    assert second == f"{path} line 12: timestamp_unix is not an integer"
    with pytest.raises(InvalidEventError, match="line 11"):
        replay(FileSource(path), Collect(), strict=True)


def test_an_empty_source_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no store|no segments"):
        replay(StoreSource(Layout(tmp_path)), Collect())
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n")
    with pytest.raises(SourceError, match="holds no events"):
        replay(FileSource(empty), Collect())
    one = tmp_path / "one.jsonl"
    one.write_bytes(
        orjson.dumps(
            {"event_id": "e", "event_type": "search", "timestamp": "2024-01-01T00:00:00+07:00"}
        )
    )
    with pytest.raises(SourceError, match=r"holds no events to replay \(1 invalid lines\)"):
        replay(FileSource(one), Collect())


def test_a_filter_matching_nothing_is_an_error(
    tmp_path: Path, records: list[tuple[bytes, bytes]]
) -> None:
    with pytest.raises(SourceError, match=r"no event of the 200 in the store .* matches"):
        replay(store(tmp_path, records[:200]), Collect(), Selection(end_ms=0))


class Lagging(Collect):
    """Acknowledges a call's events at the next call, as the Kafka target does, and fails at
    call `fail_at` with that call's and the previous call's events unacknowledged."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at, self.calls = fail_at, 0
        self.pending: list[tuple[bytes, bytes]] = []

    async def send(self, records: Iterable[tuple[bytes, bytes]]) -> int:
        self.calls += 1
        if self.calls == self.fail_at:
            raise OutputError("the target went away")
        self.records.extend(self.pending)
        self.sent += len(self.pending)
        self.pending = list(records)
        return len(self.pending)

    async def flush(self) -> None:
        self.records.extend(self.pending)
        self.sent += len(self.pending)
        self.pending = []


def test_after_a_failure_the_checkpoint_holds_only_what_was_acknowledged(
    tmp_path: Path, records: list[tuple[bytes, bytes]]
) -> None:
    source, path = store(tmp_path, records[:3_000]), tmp_path / "checkpoint.json"
    failing = Lagging(fail_at=4)
    with pytest.raises(OutputError):
        replay(
            source,
            failing,
            checkpoint=ReplayCheckpoint(plan=ReplayPlan(source="s", target="t")),
            path=path,
            chunk=500,
        )
    saved = ReplayCheckpoint.load(path)
    assert (
        (saved.loop, saved.index, saved.delivered) == (0, 1_000, 1_000) == (0, 1_000, failing.sent)
    )
    rest = Lagging(fail_at=0)
    replay(source, rest, checkpoint=saved, path=path, chunk=500)
    ids = [e["event_id"] for e in failing.events() + rest.events()]
    assert len(ids) == len(set(ids)) == 3_000 and ReplayCheckpoint.load(path).finished
