"""Where replayed events come from: the sink's store, a JSON-lines file or stdin, a Kafka topic.

Every source yields its valid events in batches; invalid lines go to `Rejects`. The store and a
topic hold several ordered streams (one per partition), which are merged by event time, so the
recorded interleaving of sessions is kept and each session (one partition) stays in its order.
A file is replayed in its own order. Files are read and decoded in a worker thread, batch by
batch, so the event loop only sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import heapq
import sys
import time
from bisect import bisect_right
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from operator import attrgetter
from pathlib import Path
from typing import BinaryIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from cartsim.errors import CartsimError, KafkaUnavailableError
from cartsim.kafka import high_watermarks, partition_count
from cartsim.producer.decoding import Event, Rejects, decode, decode_lines
from cartsim.producer.options import KafkaAddress
from cartsim.storage import Layout, Segment, whole_members

#: Which events of a batch are replayed (`Selection.kept`).
Keep = Callable[[list[Event]], list[Event]]
_BY_TIME = attrgetter("ts")
_READ_BYTES = 1 << 20
_SEGMENT_BATCH = 20_000
_FETCH_RECORDS = 5_000
#: A topic that returns nothing for this long while records are still due is given up on.
_STALLED_S = 30.0


class SourceError(CartsimError):
    """The source cannot be read, or holds nothing to replay."""


class _Run:
    """One ordered stream's events not merged yet, each with its merge key: the latest event
    time of its stream so far. Keys never decrease, so a late event keeps its place right after
    the event before it, as a heap merge by time would place it."""

    def __init__(self, batches: Iterator[list[Event]]) -> None:
        self.batches = batches
        self.events: list[Event] = []
        self.keys: list[float] = []
        self.latest: float = float("-inf")
        self.in_time = True  # the pending events' keys are their times: none is late

    def fill(self) -> bool:
        """Read on until events are pending; False once the stream is over."""
        while not self.events:
            batch = next(self.batches, None)
            if batch is None:
                return False
            times: list[float] = list(map(_BY_TIME, batch))
            self.in_time = bool(times) and times[0] >= self.latest and times == sorted(times)
            self.events = batch
            self.keys = (
                times if self.in_time else list(accumulate(times, max, initial=self.latest))[1:]
            )
            if self.keys:
                self.latest = self.keys[-1]
        return True

    def take(self, bound: float) -> tuple[list[float], list[Event]]:
        """The pending events with a key up to `bound`, and their keys."""
        cut = bisect_right(self.keys, bound)
        keys, events = self.keys[:cut], self.events[:cut]
        del self.keys[:cut], self.events[:cut]
        return keys, events


def merged(streams: list[Iterator[list[Event]]]) -> Iterator[list[Event]]:
    """The batches of ordered streams merged by event time; events of one millisecond from
    different streams may come in either order.

    Each round takes from every stream what no unread event can precede (keys up to the least
    last key pending) and sorts it by key: a stable sort of a few sorted runs merges them in C,
    where a heap merge costs a step of Python per event. Without late events the keys are the
    times, and the events are sorted by their own.
    """
    runs = [_Run(stream) for stream in streams]
    try:
        while runs := [run for run in runs if run.fill()]:
            if len(runs) == 1:
                events, runs[0].events, runs[0].keys = runs[0].events, [], []
                yield events
                continue
            bound = min(run.keys[-1] for run in runs)
            in_time = all(run.in_time for run in runs)
            keys: list[float] = []
            events = []
            for run in runs:
                taken, chosen = run.take(bound)
                keys += taken
                events += chosen
            if in_time:
                events.sort(key=_BY_TIME)
                yield events
            else:
                order = sorted(range(len(keys)), key=keys.__getitem__)
                yield list(map(events.__getitem__, order))
    finally:
        for stream in streams:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # files are closed now, not whenever the generator is collected


@dataclass
class StoreSource:
    """The sink's segments under the data folder: every log, or only `logs`."""

    layout: Layout
    logs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.read = 0
        self.total = 0

    def __str__(self) -> str:
        return f"the store ({self.layout.events_dir})"

    def streams(self) -> list[list[Segment]]:
        """Each (log, partition)'s segments in offset order; SourceError if there are none."""
        if not self.layout.events_dir.is_dir():
            raise SourceError(f"no store at {self.layout.events_dir}: nothing to replay")
        found: dict[tuple[str, int], list[Segment]] = {}
        for segment in self.layout.segments():
            if not self.logs or segment.log in self.logs:
                found.setdefault((segment.log, segment.partition), []).append(segment)
        if not found:
            which = f" of log {', '.join(self.logs)}" if self.logs else ""
            raise SourceError(f"no segments{which} in {self.layout.events_dir}: nothing to replay")
        return list(found.values())

    def batches(self, rejects: Rejects) -> Iterator[list[Event]]:
        streams = self.streams()
        self.read, self.total = 0, sum(s.path.stat().st_size for ss in streams for s in ss)
        return merged([self._stream(segments, rejects) for segments in streams])

    def _stream(self, segments: list[Segment], rejects: Rejects) -> Iterator[list[Event]]:
        for segment in segments:
            line, start = 1, 0
            members = whole_members(segment.path, batch_lines=_SEGMENT_BATCH)
            with contextlib.closing(members):  # closed now even when --strict raises
                for lines, end in members:
                    yield decode_lines(lines, segment.path.name, rejects, line)
                    line += len(lines)
                    self.read += end - start
                    start = end

    def fraction(self) -> float | None:
        return self.read / self.total if self.total else None


@dataclass
class FileSource:
    """A JSON-lines file, gzip or plain (told by its first bytes); `-` is stdin."""

    path: Path | None  # None: stdin

    def __post_init__(self) -> None:
        self.raw: BinaryIO | None = None
        self.total = 0

    def __str__(self) -> str:
        return "stdin" if self.path is None else str(self.path)

    def batches(self, rejects: Rejects) -> Iterator[list[Event]]:
        stream = self._open()
        try:  # closed now even when --strict raises
            number = 1
            for lines in _lines(stream):
                yield decode_lines(lines, str(self), rejects, number)
                number += len(lines)
        finally:
            stream.close()
            if self.path is not None and self.raw is not None:
                self.raw.close()  # a GzipFile leaves the file it reads open

    def _open(self) -> BinaryIO:
        if self.path is None:
            self.raw = sys.stdin.buffer
            return self._unzipped(self.raw)
        try:
            self.raw = self.path.open("rb")
            self.total = self.path.stat().st_size
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror}") from exc
        return self._unzipped(self.raw)

    @staticmethod
    def _unzipped(raw: BinaryIO) -> BinaryIO:
        peek = getattr(raw, "peek", None)
        head = peek(2)[:2] if peek is not None else b""
        return gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw  # type: ignore[return-value]

    def fraction(self) -> float | None:
        if self.raw is None or not self.total or self.raw.closed:
            return None
        return self.raw.tell() / self.total


def _lines(stream: BinaryIO) -> Iterator[list[bytes]]:
    """The non-empty lines of a binary stream, read a megabyte at a time."""
    tail = b""
    try:
        while chunk := stream.read(_READ_BYTES):
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            yield [line for line in lines if line.strip()]
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SourceError(f"cannot read the source: {exc}") from exc
    if tail.strip():
        yield [tail]


def _sized(batches: Iterator[list[Event]], keep: Keep, size: int) -> Generator[list[Event]]:
    """The kept events of `batches` in lists of `size`, the last one shorter."""
    pending: list[Event] = []
    for batch in batches:
        pending += keep(batch)
        start = 0
        while len(pending) - start >= size:
            yield pending[start : start + size]
            start += size
        del pending[:start]
    if pending:
        yield pending


async def threaded_chunks(
    batches: Iterator[list[Event]], keep: Keep, size: int
) -> AsyncIterator[list[Event]]:
    """Chunks of `size` kept events; each is read in a worker thread while the last is sent."""
    chunks = _sized(batches, keep, size)
    pending = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
    try:
        while (chunk := await pending) is not None:
            pending = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
            yield chunk
    finally:
        if not pending.done():  # a thread cannot be interrupted: let it finish its chunk
            with contextlib.suppress(Exception):
                await pending
        chunks.close()
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # files are closed now, not whenever the generator is collected


@dataclass
class KafkaSource:
    """A topic on any cluster, read up to where it ended when the read began (the high
    watermarks of a fetch, which the embedded broker reports right), from the beginning or,
    with `from_ms`, from each partition's first record written at or after that instant.

    The first record at or after an instant (by record timestamp, as Kafka's offsets-for-times
    defines it) is looked up with ListOffsets, and the records before it that the answer still
    covers are skipped as they are read. Kafka answers that very record, so nothing is skipped;
    the embedded broker answers the partition's first offset for every instant, so its
    partitions are read from the beginning and the skipping finds the record: exact on both.
    """

    address: KafkaAddress
    from_ms: int | None = None

    def __post_init__(self) -> None:
        self.ends: dict[TopicPartition, int] = {}
        self.done: dict[TopicPartition, int] = {}
        self.skipping: set[TopicPartition] = set()  # not yet at a record written at from_ms

    def __str__(self) -> str:
        if self.from_ms is None:
            return str(self.address)
        since = datetime.fromtimestamp(self.from_ms / 1000, UTC).isoformat(timespec="milliseconds")
        return f"{self.address} (records written since {since})"

    async def chunks(self, rejects: Rejects, keep: Keep, size: int) -> AsyncIterator[list[Event]]:
        bootstrap, topic = self.address.bootstrap, self.address.topic
        count = await partition_count(bootstrap, topic)
        ends = await high_watermarks(bootstrap, topic, count)
        self.ends = {TopicPartition(topic, p): end for p, end in ends.items() if end > 0}
        self.done = dict.fromkeys(self.ends, 0)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        try:
            await consumer.start()
            consumer.assign(list(self.ends))
            await self._seek(consumer)
            read: list[Event] = []
            async for event in self._merged(consumer, rejects):
                read.append(event)
                if len(read) >= size:
                    if chunk := keep(read):
                        yield chunk
                    read = []
            if read and (chunk := keep(read)):
                yield chunk
        except KafkaError as exc:
            raise KafkaUnavailableError(f"cannot read {self.address}: {exc}", exc) from exc
        finally:
            await consumer.stop()

    async def _seek(self, consumer: AIOKafkaConsumer) -> None:
        if self.from_ms is None:
            for tp in self.ends:
                consumer.seek(tp, 0)
            return
        found = await consumer.offsets_for_times(dict.fromkeys(self.ends, self.from_ms))
        for tp, at in found.items():
            if at is None or at.offset >= self.ends[tp]:  # nothing written since from_ms
                self.done[tp] = self.ends[tp]
            else:
                consumer.seek(tp, at.offset)
                self.done[tp] = at.offset
                self.skipping.add(tp)

    async def _merged(self, consumer: AIOKafkaConsumer, rejects: Rejects) -> AsyncIterator[Event]:
        """Every partition's events up to its end, merged by event time."""
        buffers: dict[TopicPartition, deque[Event]] = {tp: deque() for tp in self.ends}
        heap: list[tuple[int, int, TopicPartition]] = []

        async def push(tp: TopicPartition) -> None:
            if await self._fill(consumer, tp, buffers[tp], rejects):
                heapq.heappush(heap, (buffers[tp][0].ts, tp.partition, tp))

        for tp in self.ends:
            await push(tp)
        while heap:
            _, _, tp = heapq.heappop(heap)
            yield buffers[tp].popleft()
            await push(tp)

    async def _fill(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, buffer: deque[Event], rejects: Rejects
    ) -> bool:
        """Fetch until `buffer` holds an event or the partition's end is read; False at the end."""
        stalled = time.monotonic() + _STALLED_S
        while not buffer and self.done[tp] < self.ends[tp]:
            fetched = await consumer.getmany(tp, timeout_ms=1000, max_records=_FETCH_RECORDS)
            for record in fetched.get(tp, []):
                if record.offset >= self.ends[tp]:
                    break
                self.done[tp] = record.offset + 1
                if tp in self.skipping:
                    if record.timestamp < (self.from_ms or 0):
                        continue
                    self.skipping.discard(tp)
                event = decode(record.value or b"")
                if isinstance(event, str):
                    rejects.add(
                        f"{self.address} partition {tp.partition} offset {record.offset}", event
                    )
                else:
                    buffer.append(event)
            if fetched:
                stalled = time.monotonic() + _STALLED_S
            elif consumer.position(tp) >= self.ends[tp]:
                self.done[tp] = self.ends[tp]  # compacted or aborted records end the partition
            elif time.monotonic() > stalled:
                raise KafkaUnavailableError(f"{self.address} sent nothing for {_STALLED_S:g} s")
        return bool(buffer)

    def fraction(self) -> float | None:
        total = sum(self.ends.values())
        return sum(self.done.values()) / total if total else None


Source = StoreSource | FileSource | KafkaSource


async def source_chunks(
    source: Source, rejects: Rejects, keep: Keep, size: int
) -> AsyncGenerator[list[Event]]:
    """One full read of `source`: its kept events, in chunks of up to `size`."""
    if isinstance(source, KafkaSource):
        async for chunk in source.chunks(rejects, keep, size):
            yield chunk
        return
    batches = await asyncio.to_thread(source.batches, rejects)
    async for chunk in threaded_chunks(batches, keep, size):
        yield chunk
