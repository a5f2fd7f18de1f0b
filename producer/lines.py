"""Events as JSON lines in one buffer, with each line's time: the unit generators hand over.

Moving events between processes, merging them by time and writing them to a file or stdout
never touches an event one by one: the lines are one `bytes`, and lengths and times are arrays
of machine ints that are cut and joined in C. Only a target that needs (key, value) pairs, such
as Kafka, splits the buffer into records.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain

from cartsim.producer.records import KeyedEvent, session_key

#: Typecode of lengths and times: signed 64-bit.
INT64 = "q"


def _ints(values: Sequence[int] = ()) -> array[int]:
    return array(INT64, values)


@dataclass(frozen=True, slots=True)
class Lines:
    """`len(lengths)` JSON lines in `data`, each followed by a newline, and their unix ms."""

    data: bytes | memoryview = b""
    #: Length of each line, without its newline.
    lengths: array[int] = field(default_factory=_ints)
    stamps: array[int] = field(default_factory=_ints)

    @classmethod
    def of(cls, values: list[bytes], stamps: array[int]) -> Lines:
        """Lines of these event values (consumes the list)."""
        lengths = array(INT64, map(len, values))
        values.append(b"")  # so the join ends with a newline too
        return cls(b"\n".join(values), lengths, stamps)

    @classmethod
    def concat(cls, parts: Sequence[Lines]) -> Lines:
        """One Lines of `parts`, in order."""
        parts = [part for part in parts if part]
        if len(parts) == 1:
            return parts[0]
        lengths, stamps = _ints(), _ints()
        for part in parts:
            lengths += part.lengths
            stamps += part.stamps
        return cls(b"".join(part.data for part in parts), lengths, stamps)

    def __len__(self) -> int:
        return len(self.lengths)

    def __bool__(self) -> bool:
        return len(self.lengths) > 0

    def offset(self, index: int) -> int:
        """Where line `index` starts in `data`: summed from the nearer end (a cut is often near
        one, such as a bucket's few events spilled past its end)."""
        if 2 * index <= len(self.lengths):
            return sum(self.lengths[:index]) + index
        return len(self.data) - sum(self.lengths[index:]) - (len(self.lengths) - index)

    def split(self, index: int) -> tuple[Lines, Lines]:
        """(the first `index` lines, the rest), sharing this buffer."""
        if index <= 0:
            return Lines(), self
        if index >= len(self):
            return self, Lines()
        cut = self.offset(index)
        view = memoryview(self.data)
        return (
            Lines(view[:cut], self.lengths[:index], self.stamps[:index]),
            Lines(view[cut:], self.lengths[index:], self.stamps[index:]),
        )

    def before(self, ms: int) -> tuple[Lines, Lines]:
        """(lines earlier than `ms`, the rest): lines are in time order."""
        return self.split(bisect_left(self.stamps, ms))

    def values(self) -> list[bytes]:
        """The JSON events, one `bytes` each."""
        values = bytes(self.data).split(b"\n")
        values.pop()  # after the last newline
        return values

    def __iter__(self) -> Iterator[KeyedEvent]:
        """(Kafka key, JSON event) records, as the Kafka target sends them."""
        return ((session_key(value), value) for value in self.values())


def interleave(base: Lines, extras: Lines, extras_first: bool) -> Lines:
    """Both in time order; at equal times `extras` go first if `extras_first`.

    Costs a binary search per extra line, and copies of `base` in as many pieces: the small
    side of a merge should be `extras`.
    """
    if not extras:
        return base
    if not base:
        return extras
    search = bisect_left if extras_first else bisect_right
    stamps = base.stamps
    places = [search(stamps, ms) for ms in extras.stamps]
    base_view, extra_view = memoryview(base.data), memoryview(extras.data)
    data: list[memoryview] = []
    lengths, merged = _ints(), _ints()
    done = first = 0  # lines of base, and of extras, already placed
    at = extra_at = 0  # their bytes placed
    for index in range(1, len(places) + 1):
        if index < len(places) and places[index] == places[first]:
            continue  # extras that go into the same gap travel together
        place = places[first]
        size = sum(base.lengths[done:place]) + place - done
        extra_size = sum(extras.lengths[first:index]) + index - first
        data += (base_view[at : at + size], extra_view[extra_at : extra_at + extra_size])
        lengths += base.lengths[done:place]
        lengths += extras.lengths[first:index]
        merged += stamps[done:place]
        merged += extras.stamps[first:index]
        done, first, at, extra_at = place, index, at + size, extra_at + extra_size
    data += (base_view[at:],)
    lengths += base.lengths[done:]
    merged += stamps[done:]
    return Lines(b"".join(data), lengths, merged)


class Reader:
    """Takes lines `n` at a time from a stream of pieces of any size."""

    def __init__(self, pieces: Iterable[Lines]) -> None:
        self.pieces = iter(pieces)
        self.rest = Lines()

    def take(self, n: int) -> Lines:
        """The next `n` lines; fewer only at the end of the stream."""
        parts: list[Lines] = []
        wanted = n
        while wanted > 0:
            piece = self.rest or next(self.pieces, None)
            if piece is None:
                break
            head, self.rest = piece.split(wanted)
            parts.append(head)
            wanted -= len(head)
        return Lines.concat(parts)

    def records(self) -> Iterator[KeyedEvent]:
        """The rest of the stream as (key, value) records."""
        return chain(self.rest, chain.from_iterable(self.pieces))
