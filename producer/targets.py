"""Where events go: a Kafka topic keyed by session, an HTTP endpoint, a JSON-lines file, stdout.

Every target is an async context manager with `send(records) -> int`; records are (key, value)
pairs, the value one JSON event. HTTP, files and stdout get one event per line. `sent` counts the
events the target has acknowledged (Kafka: the broker acked them; HTTP: a 2xx answered their
POST; files and stdout: written).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import compress, count, islice, repeat, takewhile
from operator import is_not
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

import aiohttp
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.producer.message_accumulator import BatchBuilder

from cartsim.errors import CartsimError, KafkaUnavailableError
from cartsim.kafka import ensure_topic, partition_count
from cartsim.producer.backoff import Backoff, retry_after_s
from cartsim.producer.lines import Lines
from cartsim.producer.options import Destination
from cartsim.producer.partitions import partition_for
from cartsim.producer.records import session_keys
from cartsim.settings import Settings

_KNOWN_KEYS = 100_000
#: Producers (connections) a Kafka target spreads its partitions over: aiokafka keeps one
#: request in flight per connection. With one per partition of our default 4, requests overlap
#: and the broker's work overlaps ours (generated events onto Tansu, medians of three runs: one
#: connection about 105k/s, two or four 180k-220k/s).
_CONNECTIONS = 4
#: Bytes per record batch: about 1,900 of our events; fewer, larger requests.
_BATCH_BYTES = 1024 * 1024
#: zlib's default: about 150 MB/s and 14x on our JSON lines; level 9 manages 56 MB/s for 15x.
_GZIP_LEVEL = 6


class _Closing:
    """`async with` support: leaving the block closes the target, flushing unless it failed."""

    async def aclose(self, failed: bool) -> None:
        raise NotImplementedError

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose(failed=exc is not None)


class KafkaTarget(_Closing):
    """Sends (key, value) records in per-partition batches and checks every delivery.

    Batches are built with aiokafka's `create_batch`/`send_batch`, which on our broker is more
    than twice as fast as per-record `send`. aiokafka keeps one request in flight per
    connection, so the partitions are spread over `connections` producers: while the broker
    works on one request, another is on its way and the next batches are being built.
    Partitions are chosen with Kafka's murmur2 hash, the same as the Java client's default, so
    other producers place a session's key where we do; they are remembered per key, as a
    session's events share theirs.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        connections: int = _CONNECTIONS,
        batch_bytes: int = _BATCH_BYTES,
    ) -> None:
        self.topic = topic
        self.producers = [
            AIOKafkaProducer(
                bootstrap_servers=bootstrap,
                acks="all",
                enable_idempotence=False,  # Tansu has no InitProducerId
                max_batch_size=batch_bytes,
                linger_ms=0,
            )
            for _ in range(connections)
        ]
        self.partitions: list[int] = []
        self.known = _Places(1)
        # deliveries in flight, and how many records they carry to each partition
        self.in_flight: tuple[list[asyncio.Future[object]], Counter[int]] = ([], Counter())
        self.sent = 0
        self.acked: Counter[int] = Counter()  # partition -> records the broker acknowledged

    async def __aenter__(self) -> KafkaTarget:
        try:
            for producer in self.producers:
                await producer.start()
            self.partitions = sorted(await self.producers[0].partitions_for(self.topic))
            self.known = _Places(len(self.partitions))
        except KafkaError as exc:
            await self._stop()
            raise KafkaUnavailableError(f"cannot produce to {self.topic!r}: {exc}", exc) from exc
        return self

    async def aclose(self, failed: bool) -> None:
        try:
            if not failed:
                await self.flush()
        finally:
            await self._stop()

    async def _stop(self) -> None:
        for producer in self.producers:
            await producer.stop()

    def partition_for(self, key: bytes) -> int:
        """The partition `key` goes to."""
        return self.partitions[self.known[key]]

    async def send(self, records: Iterable[tuple[bytes, bytes]]) -> int:
        """Send records; wait until the broker has acknowledged those of the previous call.

        One call's records stay in flight while the caller makes the next ones, so generating
        and the broker's work overlap; `flush` (and leaving the `async with`) waits for the
        rest. A failed delivery raises here or there: no record goes unchecked.
        """
        keys, values = _keys_and_values(records)
        deliveries: list[asyncio.Future[object]] = []
        queues = self._queues(keys, values)
        done = [0] * len(queues)  # records of each queue in a batch
        active = [index for index, (keys, _) in enumerate(queues) if keys]
        carried_to = Counter({self.partitions[index]: len(queues[index][0]) for index in active})
        while active:  # one batch per partition in turn: every connection gets work early
            unfinished = []
            for index in active:
                builder = self.producers[index % len(self.producers)].create_batch()
                done[index] += _fill(builder, *queues[index], done[index])
                deliveries.append(await self._submit(builder, index))
                if done[index] < len(queues[index][0]):
                    unfinished.append(index)
            active = unfinished
        previous, self.in_flight = self.in_flight, (deliveries, carried_to)
        await self._settle(*previous)
        return len(keys)

    def _queues(
        self, keys: list[bytes], values: list[bytes]
    ) -> list[tuple[list[bytes], list[bytes]]]:
        """(keys, values) per partition index, each in the order of the call."""
        if len(self.partitions) == 1:
            return [(keys, values)]
        if len(self.partitions) > len(_ONLY):
            grouped: list[tuple[list[bytes], list[bytes]]] = [([], []) for _ in self.partitions]
            for key, value in zip(keys, values, strict=True):
                queue = grouped[self.known[key]]
                queue[0].append(key)
                queue[1].append(value)
            return grouped
        places = bytes(map(self.known.__getitem__, keys))
        queues = []
        for index in range(len(self.partitions)):
            chosen = places.translate(_ONLY[index])
            queues.append((list(compress(keys, chosen)), list(compress(values, chosen))))
        return queues

    async def flush(self) -> None:
        """Wait until every record sent so far has been acknowledged."""
        current, self.in_flight = self.in_flight, ([], Counter())
        await self._settle(*current)

    async def _settle(
        self, deliveries: list[asyncio.Future[object]], partitions: Counter[int]
    ) -> None:
        try:
            await asyncio.gather(*deliveries)
        except KafkaError as exc:
            raise KafkaUnavailableError(f"delivery to {self.topic!r} failed: {exc}", exc) from exc
        self.sent += partitions.total()
        self.acked.update(partitions)

    async def _submit(self, builder: BatchBuilder, index: int) -> asyncio.Future[object]:
        producer = self.producers[index % len(self.producers)]
        try:
            return await producer.send_batch(builder, self.topic, partition=self.partitions[index])
        except KafkaError as exc:
            raise KafkaUnavailableError(f"cannot send to {self.topic!r}: {exc}", exc) from exc


class _Places(dict[bytes, int]):
    """Partition index by key, computed when first asked and remembered (a session's events
    share their key); forgets everything past `_KNOWN_KEYS` keys."""

    def __init__(self, partitions: int) -> None:
        super().__init__()
        self.count = partitions

    def __missing__(self, key: bytes) -> int:
        if len(self) >= _KNOWN_KEYS:
            self.clear()
        index = self[key] = partition_for(key, self.count)
        return index


#: Per partition index below 256, a `bytes.translate` table that keeps 1 for it and 0 for others.
_ONLY = [bytes(int(byte == index) for byte in range(256)) for index in range(256)]
_NO_HEADERS: list[tuple[str, bytes | None]] = []
_APPENDED = partial(is_not, None)


def _keys_and_values(records: Iterable[tuple[bytes, bytes]]) -> tuple[list[bytes], list[bytes]]:
    """Keys and values of the records: of `Lines`, keys cut from the values in C."""
    if isinstance(records, Lines):
        values = records.values()
        return session_keys(values), values
    pairs = list(records)
    return [key for key, _ in pairs], [value for _, value in pairs]


def _fill(builder: BatchBuilder, keys: list[bytes], values: list[bytes], start: int) -> int:
    """Append the records from `start` on to an empty batch until it is full, in C (aiokafka's
    `append` costs a Python call and a metadata object per record); how many it took. The
    first record always goes in, however large, as aiokafka allows."""
    inner = builder._builder
    records = map(
        inner.append,
        count(),
        repeat(None),
        islice(keys, start, None),
        islice(values, start, None),
        repeat(_NO_HEADERS),
    )
    appended = len(list(takewhile(_APPENDED, records)))  # stops at the first that did not fit
    builder._relative_offset = appended
    return appended


class OutputError(CartsimError):
    """Events could not be written to a file or stdout."""


class _LinesTarget(_Closing):
    """JSON lines to a binary stream; subclasses say which stream and how to close it."""

    stream: BinaryIO | gzip.GzipFile
    name: str
    sent = 0

    async def __aenter__(self) -> Self:
        return self

    async def aclose(self, failed: bool) -> None:
        self.close()

    async def send(self, records: Iterable[tuple[bytes, bytes]]) -> int:
        """Write the events as lines, in a thread: a pipe's reader or gzip may take a while."""
        if isinstance(records, Lines):
            data, count = records.data, len(records)
        else:
            values = [value for _, value in records]
            values.append(b"")  # so the join ends with a newline
            data, count = b"\n".join(values), len(values) - 1
        if count:
            await asyncio.to_thread(self.write, data)
        self.sent += count
        return count

    def write(self, data: bytes | memoryview) -> None:
        try:
            self.stream.write(data)
        except OSError as exc:
            raise OutputError(f"cannot write events to {self.name}: {exc.strerror}") from exc

    def close(self) -> None:
        self.stream.flush()


class FileTarget(_LinesTarget):
    """A JSON-lines file, gzip-compressed when its name ends in `.gz`.

    The gzip header carries no name and no time, so the same events give the same bytes.
    With `append` the file is continued (a gzip file gets one more member), as a resumed
    replay needs.
    """

    def __init__(self, path: Path, append: bool = False) -> None:
        self.path = path
        self.name = str(path)
        self.append = append
        self.raw: BinaryIO | None = None

    async def __aenter__(self) -> Self:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.raw = self.path.open("ab" if self.append else "wb")
        except OSError as exc:
            raise OutputError(f"cannot write events to {self.path}: {exc.strerror}") from exc
        if self.path.suffix == ".gz":
            self.stream = gzip.GzipFile(
                filename="", mode="wb", compresslevel=_GZIP_LEVEL, fileobj=self.raw, mtime=0
            )
        else:
            self.stream = self.raw
        return self

    def close(self) -> None:
        self.stream.close()
        if self.raw is not None:
            self.raw.close()


class StdoutTarget(_LinesTarget):
    """JSON lines on standard output, flushed after every batch so pipes see them promptly.

    When the reader goes away (`cartsim produce --to stdout | head`), stdout is pointed at
    /dev/null so that Python's own flush at exit stays quiet, and the run ends with one line.
    """

    name = "stdout"

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self.stream = stream or sys.stdout.buffer

    def write(self, data: bytes | memoryview) -> None:
        try:
            super().write(data)
            self.stream.flush()
        except (OutputError, OSError) as exc:
            if self.stream is sys.stdout.buffer:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            if isinstance(exc.__cause__ or exc, BrokenPipeError):
                raise OutputError("stdout was closed by its reader") from exc
            if isinstance(exc, OutputError):
                raise
            raise OutputError(f"cannot write events to stdout: {exc.strerror}") from exc

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.stream.flush()


@dataclass(frozen=True)
class HttpOptions:
    """How the HTTP target batches and retries (the `--batch-size` ... options)."""

    batch_size: int = 500
    concurrency: int = 4
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_for_s: float = 60.0
    attempt_timeout_s: float = 30.0


class HttpTarget(_Closing):
    """POSTs batches of JSON lines (`application/x-ndjson`), `concurrency` requests at a time.

    A connection error, a timeout, 408, 429 or a 5xx is retried with backoff (`Retry-After`
    obeyed) until the batch has failed for `retry_for_s`; then the run stops with an error saying
    how many events were delivered. Other answers (400, 401, 404, 413...) stop it at once.
    Delivery is at least once: a batch whose answer was lost (the connection dropped after the
    server read it) is sent again, so the server may see it twice.
    """

    def __init__(self, url: str, options: HttpOptions | None = None) -> None:
        self.url = url
        self.options = options or HttpOptions()
        self.session: aiohttp.ClientSession | None = None
        self.sent = 0

    async def __aenter__(self) -> HttpTarget:
        headers = {"Content-Type": "application/x-ndjson", **self.options.headers}
        self.session = aiohttp.ClientSession(
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.options.attempt_timeout_s),
            connector=aiohttp.TCPConnector(limit=self.options.concurrency),
        )
        return self

    async def aclose(self, failed: bool) -> None:
        if self.session is not None:
            await self.session.close()

    async def send(self, records: Iterable[tuple[bytes, bytes]]) -> int:
        """POST `records` in batches; return once every batch was answered with a 2xx."""
        values = [value for _, value in records]
        size = self.options.batch_size
        batches = [values[start : start + size] for start in range(0, len(values), size)]
        gate = asyncio.Semaphore(self.options.concurrency)

        async def post(batch: list[bytes]) -> None:
            async with gate:
                await self._post(batch)

        try:
            async with asyncio.TaskGroup() as group:
                for batch in batches:
                    group.create_task(post(batch))
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return len(values)

    async def _post(self, batch: list[bytes]) -> None:
        assert self.session is not None, "use the target in `async with`"
        body = b"\n".join(batch) + b"\n"
        backoff = Backoff(self.options.retry_for_s)
        while True:
            retry_after = None
            try:
                async with self.session.post(self.url, data=body) as response:
                    if response.status < 300:
                        self.sent += len(batch)
                        return
                    reason = f"HTTP {response.status}"
                    if response.status not in (408, 429) and response.status < 500:
                        text = (await response.text(errors="replace"))[:200]
                        raise OutputError(
                            f"{self.url} refused a batch with {reason}: {text or response.reason}"
                            f" ({self.sent:,} events delivered)"
                        )
                    retry_after = retry_after_s(response.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = str(exc) or type(exc).__name__
            wait = backoff.delay(retry_after)
            if wait is None:
                raise OutputError(
                    f"gave up on {self.url} after {backoff.elapsed_s:.1f} s and "
                    f"{backoff.attempts} attempts (last: {reason}); "
                    f"{self.sent:,} events delivered"
                )
            await asyncio.sleep(wait)


Target = KafkaTarget | HttpTarget | FileTarget | StdoutTarget


@asynccontextmanager
async def open_target(
    to: Destination,
    settings: Settings,
    bootstrap: str | None,
    http: HttpOptions | None = None,
    append: bool = False,
    create: bool = False,
) -> AsyncIterator[Target]:
    """The target `to` names, opened. The configured topic (plain `kafka`) is created if it does
    not exist; a `kafka://` topic must exist already, as on a cluster we do not own, unless
    `create` asks for it. `append` continues a file target instead of starting it anew."""
    if to.kind == "kafka" and to.address is not None:
        if create:
            await ensure_topic(to.address.bootstrap, to.address.topic, settings.partitions)
        await partition_count(to.address.bootstrap, to.address.topic)
        target: Target = KafkaTarget(to.address.bootstrap, to.address.topic)
    elif to.kind == "kafka" and bootstrap is not None:
        await ensure_topic(bootstrap, settings.topic, settings.partitions)
        target = KafkaTarget(bootstrap, settings.topic)
    elif to.kind == "http" and to.url is not None:
        target = HttpTarget(to.url, http)
    elif to.kind == "file" and to.path is not None:
        target = FileTarget(to.path, append)
    else:
        target = StdoutTarget()
    async with target as opened:
        yield opened
