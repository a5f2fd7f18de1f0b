"""Where replayed events come from: the sink's store, a JSON-lines file or stdin, a Kafka topic.

Every source yields its valid events in chunks; invalid lines go to `Rejects`. The store and a
topic hold several ordered streams (one per partition), which are merged by event time, so the
recorded interleaving of sessions is kept and each session (one partition) stays in its order.
A file is replayed in its own order. Files are read and decoded in a worker thread, chunk by
chunk, so the event loop only sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import heapq
import sys
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from operator import attrgetter
from pathlib import Path
from typing import BinaryIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from cartsim.errors import CartsimError, KafkaUnavailableError
from cartsim.kafka import high_watermarks, partition_count
from cartsim.producer.decoding import Event, Rejects, decode
from cartsim.producer.options import KafkaAddress
from cartsim.storage import Layout, Segment, whole_members

Keep = Callable[[Event], bool]
_BY_TIME = attrgetter("ts")
_READ_BYTES = 1 << 20
_SEGMENT_BATCH = 20_000
_FETCH_RECORDS = 5_000
#: A topic that returns nothing for this long while records are still due is given up on.
_STALLED_S = 30.0


class SourceError(CartsimError):
    """The source cannot be read, or holds nothing to replay."""


def _decoded(
    lines: Iterable[bytes], name: str, rejects: Rejects, first: int = 1
) -> Iterator[Event]:
    """The valid events of `lines`, the invalid ones given to `rejects` as `name` line N."""
    for number, line in enumerate(lines, first):
        event = decode(line)
        if isinstance(event, str):
            rejects.add(f"{name} line {number}", event)
        else:
            yield event


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

    def events(self, rejects: Rejects) -> Iterator[Event]:
        streams = self.streams()
        self.read, self.total = 0, sum(s.path.stat().st_size for ss in streams for s in ss)
        merged = [self._stream(segments, rejects) for segments in streams]
        return merged[0] if len(merged) == 1 else heapq.merge(*merged, key=_BY_TIME)

    def _stream(self, segments: list[Segment], rejects: Rejects) -> Iterator[Event]:
        for segment in segments:
            line, start = 1, 0
            members = whole_members(segment.path, batch_lines=_SEGMENT_BATCH)
            with contextlib.closing(members):  # closed now even when --strict raises
                for lines, end in members:
                    yield from _decoded(lines, segment.path.name, rejects, line)
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

    def events(self, rejects: Rejects) -> Iterator[Event]:
        stream = self._open()
        try:  # closed now even when --strict raises
            yield from _decoded(_lines(stream), str(self), rejects)
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


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    """Non-empty lines of a binary stream, read a megabyte at a time."""
    tail = b""
    try:
        while chunk := stream.read(_READ_BYTES):
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            yield from (line for line in lines if line.strip())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SourceError(f"cannot read the source: {exc}") from exc
    if tail.strip():
        yield tail


async def threaded_chunks(
    events: Iterator[Event], keep: Keep, size: int
) -> AsyncIterator[list[Event]]:
    """Chunks of the kept `events`; each is read in a worker thread while the last is sent."""

    def take() -> tuple[list[Event], bool]:
        chunk = list(islice(events, size))
        return [event for event in chunk if keep(event)], len(chunk) < size

    pending = asyncio.ensure_future(asyncio.to_thread(take))
    try:
        while True:
            chunk, last = await pending
            if not last:
                pending = asyncio.ensure_future(asyncio.to_thread(take))
            if chunk:
                yield chunk
            if last:
                return
    finally:
        if not pending.done():  # a thread cannot be interrupted: let it finish its chunk
            with contextlib.suppress(Exception):
                await pending
        close = getattr(events, "close", None)
        if close is not None:
            close()  # files are closed now, not whenever the generator is collected


@dataclass
class KafkaSource:
    """A topic on any cluster, read from the beginning up to where it ended when the read began
    (the high watermarks of a fetch, which the embedded broker reports right)."""

    address: KafkaAddress

    def __post_init__(self) -> None:
        self.ends: dict[TopicPartition, int] = {}
        self.done: dict[TopicPartition, int] = {}

    def __str__(self) -> str:
        return str(self.address)

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
            for tp in self.ends:
                consumer.seek(tp, 0)
            chunk: list[Event] = []
            async for event in self._merged(consumer, rejects):
                if keep(event):
                    chunk.append(event)
                    if len(chunk) >= size:
                        yield chunk
                        chunk = []
            if chunk:
                yield chunk
        except KafkaError as exc:
            raise KafkaUnavailableError(f"cannot read {self.address}: {exc}", exc) from exc
        finally:
            await consumer.stop()

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
    events = await asyncio.to_thread(source.events, rejects)
    async for chunk in threaded_chunks(events, keep, size):
        yield chunk
