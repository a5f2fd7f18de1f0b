"""The sink on its own: exactly-once files from at-least-once input, and crash repair."""

from __future__ import annotations

import itertools
import logging
import threading
from pathlib import Path

import orjson
import pytest

from cartsim.storage import Layout, Segment, read_gzip_members
from cartsim.stream_processors.sink import SegmentSink
from tests.stored import stored_events, stored_id_counts


def record(partition: int, offset: int) -> tuple[int, int, bytes]:
    return partition, offset, orjson.dumps({"event_id": f"p{partition}-o{offset}"})


def make_sink(root: Path, log_id: str = "0123abcd", max_bytes: int = 1 << 20) -> SegmentSink:
    return SegmentSink(Layout(root), log_id, max_bytes=max_bytes, max_age_s=3600)


def test_replayed_offsets_are_written_once(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    assert sink.write([record(0, o) for o in range(0, 100)]) == 100
    assert sink.write([record(0, o) for o in range(50, 150)]) == 50  # 50..99 replayed
    sink.close()

    again = make_sink(tmp_path)  # a restarted worker, Kafka redelivering from offset 0
    assert again.write([record(0, o) for o in range(0, 160)]) == 10
    again.close()

    counts = stored_id_counts(tmp_path)
    assert set(counts) == {f"p0-o{o}" for o in range(160)}
    assert set(counts.values()) == {1}


def test_segment_names_tell_partition_and_offset_range(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    sink.write([record(2, o) for o in range(10, 20)] + [record(1, 0)])
    assert [s.is_open for s in Layout(tmp_path).segments()] == [True, True]
    sink.close()
    closed = Layout(tmp_path).segments()
    assert [(s.partition, s.first_offset, s.last_offset) for s in closed] == [
        (1, 0, 0),
        (2, 10, 19),
    ]
    assert [e["event_id"] for e in stored_events(tmp_path)] == ["p1-o0"] + [
        f"p2-o{o}" for o in range(10, 20)
    ]


def test_an_offset_gap_starts_a_new_segment(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    sink.write([record(0, o) for o in (0, 1, 2, 7, 8)])
    sink.close()
    ranges = [(s.first_offset, s.last_offset) for s in Layout(tmp_path).segments()]
    assert ranges == [(0, 2), (7, 8)]


def test_segments_rotate_by_size(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, max_bytes=2048)
    for start in range(0, 2000, 100):
        sink.write([record(0, o) for o in range(start, start + 100)])
    sink.close()
    segments = Layout(tmp_path).segments()
    assert len(segments) > 1
    assert segments[0].first_offset == 0 and segments[-1].last_offset == 1999
    for before, after in itertools.pairwise(segments):
        assert after.first_offset == before.last_offset + 1


def test_a_torn_tail_is_cut_off_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    crashed = make_sink(tmp_path)
    crashed.write([record(0, o) for o in range(0, 10)])
    crashed.write([record(0, o) for o in range(10, 20)])
    for segment in crashed._open.values():  # the process dies: the OS closes its files
        segment.file.close()
    # ... mid-write: the open segment ends in part of a gzip member
    (open_segment,) = Layout(tmp_path).segments()
    data = open_segment.path.read_bytes()
    member = len(data) // 2
    open_segment.path.write_bytes(data + data[member : member + 15])

    with caplog.at_level(logging.WARNING):
        restarted = make_sink(tmp_path)
        assert restarted.write([record(0, o) for o in range(0, 25)]) == 5
    restarted.close()
    assert "torn gzip tail" in caplog.text
    counts = stored_id_counts(tmp_path)
    assert set(counts) == {f"p0-o{o}" for o in range(25)} and set(counts.values()) == {1}
    assert all(not s.is_open for s in Layout(tmp_path).segments())


def test_a_new_log_starts_again_at_offset_zero(tmp_path: Path) -> None:
    """The embedded broker forgets everything on restart; its offsets must not look like replays."""
    first = make_sink(tmp_path, log_id="aaaaaaaa")
    first.write([record(0, o) for o in range(100)])
    first.close()
    second = make_sink(tmp_path, log_id="bbbbbbbb")
    assert second.write([(0, o, orjson.dumps({"event_id": f"new-{o}"})) for o in range(10)]) == 10
    second.close()
    assert len(stored_events(tmp_path)) == 110
    assert {s.log for s in Layout(tmp_path).segments()} == {"aaaaaaaa", "bbbbbbbb"}


def test_open_and_closed_names_parse_back() -> None:
    closed = Segment.parse(Path(Segment.closed_name("deadbeef", 3, 42, 99)))
    opened = Segment.parse(Path(Segment.open_name("deadbeef", 3, 100)))
    assert closed is not None and (closed.partition, closed.first_offset, closed.last_offset) == (
        3,
        42,
        99,
    )
    assert opened is not None and opened.is_open and opened.first_offset == 100
    assert Segment.parse(Path("cart_events.json.gz")) is None


def test_clear_for_a_replace_keeps_only_what_follows_even_after_a_restart(tmp_path: Path) -> None:
    earlier = make_sink(tmp_path, log_id="0000aaaa")
    earlier.write([record(0, o) for o in range(5)])
    earlier.close()
    sink = make_sink(tmp_path)
    sink.write([record(p, o) for p in (0, 1) for o in range(100)])
    assert sink.clear({0: 120}) == 2  # partition 0's segment and the earlier log's
    sink.write([record(0, o) for o in range(90, 130)] + [record(1, 100)])
    sink.close()

    again = make_sink(tmp_path)  # a restart; Kafka redelivers partition 0 from before the floor
    assert again.write([record(0, o) for o in range(50, 140)]) == 10  # only 130..139 are new
    again.close()
    counts = stored_id_counts(tmp_path)
    expected = {f"p0-o{o}" for o in range(120, 140)} | {f"p1-o{o}" for o in range(101)}
    assert set(counts) == expected and set(counts.values()) == {1}


def test_records_left_out_keep_the_range_and_a_crashed_segment_its_last_offset(
    tmp_path: Path,
) -> None:
    """None is an offset the files cover without a line; repair reads the member's offset."""
    layout = Layout(tmp_path)
    sink = make_sink(tmp_path)
    sink.write([(0, 0, b'{"a":0}'), (0, 1, None), (0, 2, b'{"a":2}'), (0, 3, None)])
    sink._open[0].file.close()  # a crash: the segment stays open
    # a new sink repairs it and knows offset 3 is covered
    again = make_sink(tmp_path)
    assert again.write([(0, 3, b'{"a":3}'), (0, 4, b'{"a":4}')]) == 1
    again.close()
    segments = sorted(layout.segments(), key=lambda s: s.first_offset)
    assert [(s.first_offset, s.last_offset) for s in segments] == [(0, 3), (4, 4)]
    lines = [read_gzip_members(s.path.read_bytes())[0] for s in segments]
    assert lines == [[b'{"a":0}', b'{"a":2}'], [b'{"a":4}']]


def test_a_partition_written_by_another_sink_waits_until_that_one_releases_it(
    tmp_path: Path,
) -> None:
    """A worker that lost a partition without knowing it finishes its write; the new owner
    then continues after it, and no offset is stored twice."""
    old, new = make_sink(tmp_path), make_sink(tmp_path)
    old.own([0])
    old.write([record(0, o) for o in range(0, 10)])
    taking = threading.Thread(target=new.own, args=([0, 1],))
    taking.start()
    taking.join(0.5)
    assert taking.is_alive(), "the new owner must wait for the old one"
    old.write([record(0, o) for o in range(10, 20)])  # the old owner's last fetch
    old.release([0])
    taking.join(10)
    assert not taking.is_alive()
    assert new.write([record(0, o) for o in range(10, 30)]) == 10  # redelivered from 10
    new.close()

    counts = stored_id_counts(tmp_path)
    assert set(counts) == {f"p0-o{o}" for o in range(30)}
    assert set(counts.values()) == {1}
