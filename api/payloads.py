"""The stored events' JSON, one append-only file of zstd blocks per ingested segment.

DuckDB keeps the columns that are filtered and sorted on, and per event where its JSON is in
its segment's file here; a page then reads and decompresses the blocks that hold its events,
each once. Reading them from a DuckDB column instead decoded a whole compressed 2,048-row vector
per scattered event: measured over 10 M events, fetching the JSON of a customer's newest 100
took about 4 ms there, about 0.3 ms from uncompressed files (in the OS cache).

A file is a header, `MAGIC`, a 4-byte little-endian length and a zstd dictionary (32 KB,
trained on the segment's first events; empty when there were too few to train on), then
blocks: each a 4-byte little-endian length and one zstd frame (level 3, with the dictionary)
of up to `BLOCK_LINES` JSON lines, each ending in a newline. An event's position is its block's
byte offset * `BLOCK_LINES` + its index in the block. Uncompressed JSON took about 530 bytes per
event, these blocks about 51 (a frame without a dictionary about 92); a block decompresses in
a few microseconds.

Each file only grows while its segment is ingested; bytes past what the database committed
(a crash between writing here and committing there) are cut off before the next append, so a
committed position always points at its event. Every call blocks: use the query threads.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import zstandard

from cartsim.storage import fsync_dir

Ref = tuple[int, int]  # segment id, position of the event (block offset * BLOCK_LINES + index)

MAGIC = b"CSZ1"
BLOCK_LINES = 16
LEVEL = 3
DICTIONARY_BYTES = 32 << 10
SUFFIX = ".zst"
_TRAIN_LINES = 2_000  # first events a dictionary is trained on
_MIN_TRAIN_LINES = 200  # fewer: topped up from the newest other segment, or no dictionary
_READ = 2048  # bytes read per block (about 800 on average); longer frames are read on
_CACHED = 64  # dictionaries kept ready per thread (reading) and for the ingester (writing)


@dataclass(frozen=True)
class Appended:
    size: int  # of the segment's file after the append
    blocks: list[int]  # byte offset of each new block: line n is in block n // BLOCK_LINES
    lines: int


class Payloads:
    """The folder of payload files, named by segment id (ids are never reused)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._writers: dict[int, zstandard.ZstdCompressor] = {}  # the ingester's only
        self._local = threading.local()  # each query thread's decompressors

    def path(self, segment_id: int) -> Path:
        return self.folder / f"{segment_id}{SUFFIX}"

    def older_format(self) -> bool:
        """Whether the folder holds payload files of uncompressed JSON lines."""
        return any(self.folder.glob("*.jsonl"))

    def append(self, segment_id: int, at: int, lines: Path) -> Appended:
        """Append the JSON lines of the file `lines` as blocks at byte `at` of the segment's
        file, cutting off what lies beyond (uncommitted leftovers); durable on return. At 0 the
        file is made anew, its dictionary trained on these lines first."""
        with lines.open("rb") as source:
            if at == 0:
                first = list(itertools.islice(source, _TRAIN_LINES))
                dictionary = self._train(segment_id, first)
                compressor = _compressor(dictionary)
                header = MAGIC + len(dictionary).to_bytes(4, "little") + dictionary
                staged = self.folder / f"{segment_id}.new"
                with staged.open("wb") as target:
                    target.write(header)
                    appended = _write(target, compressor, itertools.chain(first, source))
                    os.fsync(target.fileno())
                os.replace(staged, self.path(segment_id))
                fsync_dir(self.folder)  # make the new name durable too
            else:
                compressor = self._writer(segment_id)
                with self.path(segment_id).open("r+b") as target:
                    target.truncate(at)
                    target.seek(at)
                    appended = _write(target, compressor, source)
                    os.fsync(target.fileno())
        if len(self._writers) >= _CACHED:
            self._writers.clear()
        self._writers[segment_id] = compressor
        return appended

    def _writer(self, segment_id: int) -> zstandard.ZstdCompressor:
        writer = self._writers.get(segment_id)
        if writer is None:
            descriptor = os.open(self.path(segment_id), os.O_RDONLY)
            try:
                writer = _compressor(_dictionary(descriptor))
            finally:
                os.close(descriptor)
        return writer

    def _train(self, segment_id: int, first: list[bytes]) -> bytes:
        """A dictionary from the segment's first lines, topped up from the newest other
        segment's when they are few (a live stream's first pass may hold a handful)."""
        samples: list[bytes | bytearray | memoryview] = list(first)
        if len(samples) < _TRAIN_LINES:
            samples += itertools.islice(self._lines_of_newest(but=segment_id), _TRAIN_LINES)
        if len(samples) < _MIN_TRAIN_LINES:
            return b""
        try:
            return zstandard.train_dictionary(DICTIONARY_BYTES, samples).as_bytes()
        except zstandard.ZstdError:  # samples too alike or too small to train on
            return b""

    def _lines_of_newest(self, but: int) -> Iterator[bytes]:
        """The lines of the newest segment's file other than `but`, in order."""
        ids = [int(p.stem) for p in self.folder.glob(f"*{SUFFIX}") if p.stem.isdigit()]
        ids = [i for i in ids if i != but]
        if not ids:
            return
        try:
            source = self.path(max(ids)).open("rb")
        except FileNotFoundError:
            return
        with source:
            decompressor = _decompressor(_dictionary(source.fileno()))
            offset = 8 + int.from_bytes(os.pread(source.fileno(), 4, 4), "little")
            while True:
                length = os.pread(source.fileno(), 4, offset)
                if len(length) < 4:
                    return
                size = int.from_bytes(length, "little")
                frame = os.pread(source.fileno(), size, offset + 4)
                yield from decompressor.decompress(frame).splitlines(keepends=True)
                offset += 4 + size

    def read(self, refs: list[Ref]) -> list[bytes]:
        """The events at `refs`, in their order; each block is decompressed once."""
        wanted: dict[int, dict[int, set[int]]] = {}  # segment id -> block offset -> indexes
        for segment_id, position in refs:
            blocks = wanted.setdefault(segment_id, {})
            blocks.setdefault(position // BLOCK_LINES, set()).add(position % BLOCK_LINES)
        found: dict[Ref, bytes] = {}
        for segment_id, blocks in wanted.items():
            descriptor = os.open(self.path(segment_id), os.O_RDONLY)
            try:
                decompressor = self._reader(segment_id, descriptor)
                for offset, indexes in blocks.items():
                    block = decompressor.decompress(_frame(descriptor, offset))
                    for index, line in _lines(block, sorted(indexes)):
                        found[(segment_id, offset * BLOCK_LINES + index)] = line
            finally:
                os.close(descriptor)
        return [found[ref] for ref in refs]

    def _reader(self, segment_id: int, descriptor: int) -> zstandard.ZstdDecompressor:
        """This thread's decompressor of the segment (one is not to be used by two threads at
        once, and loading a dictionary costs more than a block)."""
        cache: dict[int, zstandard.ZstdDecompressor] | None = getattr(self._local, "cache", None)
        if cache is None or len(cache) >= _CACHED:
            cache = self._local.cache = {}
        reader = cache.get(segment_id)
        if reader is None:
            reader = cache[segment_id] = _decompressor(_dictionary(descriptor))
        return reader

    def delete(self, segment_ids: Iterable[int]) -> None:
        for segment_id in segment_ids:
            self.path(segment_id).unlink(missing_ok=True)
            self._writers.pop(segment_id, None)

    def keep_only(self, segment_ids: set[int]) -> None:
        """Delete the files of segments the database no longer has (a crash between its commit
        and their deletion), and files a crash left half made."""
        for path in self.folder.glob("*.new"):
            path.unlink(missing_ok=True)
        for path in self.folder.glob(f"*{SUFFIX}"):
            if path.stem.isdigit() and int(path.stem) not in segment_ids:
                path.unlink(missing_ok=True)


def _compressor(dictionary: bytes) -> zstandard.ZstdCompressor:
    if not dictionary:
        return zstandard.ZstdCompressor(level=LEVEL)
    prepared = zstandard.ZstdCompressionDict(dictionary)
    prepared.precompute_compress(level=LEVEL)  # loaded once, not per block
    return zstandard.ZstdCompressor(dict_data=prepared)


def _decompressor(dictionary: bytes) -> zstandard.ZstdDecompressor:
    if not dictionary:
        return zstandard.ZstdDecompressor()
    return zstandard.ZstdDecompressor(dict_data=zstandard.ZstdCompressionDict(dictionary))


def _dictionary(descriptor: int) -> bytes:
    """The dictionary in the header of the payload file open at `descriptor`."""
    header = os.pread(descriptor, 8, 0)
    if header[:4] != MAGIC:
        raise ValueError("not a payload file")
    size = int.from_bytes(header[4:8], "little")
    return os.pread(descriptor, size, 8) if size else b""


def _write(
    target: BinaryIO, compressor: zstandard.ZstdCompressor, lines: Iterable[bytes]
) -> Appended:
    """Compress `lines` into blocks at the end of `target` (its position is where they start)."""
    offset = target.tell()
    blocks: list[int] = []
    count = 0
    pending = bytearray()
    iterator = iter(lines)
    while group := list(itertools.islice(iterator, BLOCK_LINES)):
        frame = compressor.compress(b"".join(group))
        blocks.append(offset)
        pending += len(frame).to_bytes(4, "little")
        pending += frame
        offset += 4 + len(frame)
        count += len(group)
        if len(pending) >= 1 << 20:
            target.write(pending)
            pending.clear()
    target.write(pending)
    target.flush()
    return Appended(offset, blocks, count)


def _lines(block: bytes, indexes: list[int]) -> Iterator[tuple[int, bytes]]:
    """The lines of `block` at `indexes` (ascending), found without splitting the others off:
    a page mostly wants one or two of a block's lines."""
    start, line = 0, 0
    for index in indexes:
        while line < index:
            start = block.index(b"\n", start) + 1
            line += 1
        yield index, block[start : block.index(b"\n", start)]


def _frame(descriptor: int, offset: int) -> bytes:
    """The zstd frame of the block at `offset`."""
    chunk = os.pread(descriptor, _READ, offset)
    if len(chunk) < 4:
        raise EOFError(f"no block at byte {offset}")
    end = 4 + int.from_bytes(chunk[:4], "little")
    if len(chunk) < end:
        chunk += os.pread(descriptor, end - len(chunk), offset + len(chunk))
        if len(chunk) < end:
            raise EOFError(f"no whole block at byte {offset}")
    return chunk[4:end]
