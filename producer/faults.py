"""Faults on purpose: duplicates, late and reordered events, malformed records, labelled.

Pure and seedable: `Injector` takes the clean stream of (key, value) records and gives what to
send, each with the `Fault` it carries (None for a clean event in its place). The same records,
options and seed give the same output. Every clean event is sent exactly once (late and
reordered ones at another position); duplicates and malformed records are extra records. Each
event draws one uniform number, so it gets at most one fault:

- duplicate: the same bytes again, half of them 0-9 records later, the other half after an
  exponentially distributed number of records (mean 1,000, at most 10,000);
- late: held back until the stream's event time has passed the event's own by a delay drawn
  from an exponential distribution with the given mean (at most ten times the mean), so it
  arrives after later events; its timestamp is unchanged;
- reorder: sent right after the next event of its session (a session's last event, exit_page,
  is never chosen: nothing follows it);
- malformed: the event is sent, followed by a corrupted copy with its key, one of five kinds
  drawn evenly (`MALFORMED_KINDS`).

Held records still held when the stream ends (or is stopped) are sent by `drain`.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, get_args

import orjson

from cartsim.events import PUBLIC_FIELDS
from cartsim.producer.records import KeyedEvent
from cartsim.truth import FaultKind, FaultOptions, MalformedKind

MALFORMED_KINDS: tuple[MalformedKind, ...] = get_args(MalformedKind)
#: Size an oversized record is padded to: far above any real event (about 530 bytes) and the
#: worker's default limit, well below Kafka's default 1 MB message limit.
OVERSIZED_BYTES = 256 * 1024
_SHORTLY = 10  # a "shortly after" duplicate comes 0-9 records later
_LATER_MEAN, _LATER_MAX = 1_000, 10_000  # records before a "later" duplicate
_LATE_CAP = 10  # a late delay is at most this many times the mean
#: A field whose value turns into the wrong JSON type, and what it becomes.
_WRONG_TYPES: tuple[tuple[str, Any], ...] = (
    ("timestamp_unix", "soon"),
    ("is_guest", "maybe"),
    ("session_id", 42),
    ("event_type", 7),
    ("source", None),
)
_EXIT = b'"event_type":"exit_page"'
_STAMP = b'"timestamp_unix":'
_ID = b'{"event_id":"'


@dataclass(frozen=True, slots=True)
class Fault:
    """What is wrong with one outgoing record."""

    kind: FaultKind
    event_id: str
    malformed: MalformedKind | None = None
    delay_ms: int | None = None


Outgoing = tuple[KeyedEvent, Fault | None]


def event_id(value: bytes) -> str:
    """The event id of a record, read from its first field when it is there (ours always is)."""
    if value.startswith(_ID):
        return value[len(_ID) : value.index(b'"', len(_ID))].decode()
    return str(orjson.loads(value)["event_id"])


def timestamp_ms(value: bytes) -> int:
    at = value.find(_STAMP)
    if at < 0:
        return int(orjson.loads(value)["timestamp_unix"])
    start = at + len(_STAMP)
    return int(value[start : value.index(b",", start)])


def corrupt(value: bytes, kind: MalformedKind, rng: random.Random) -> bytes:
    """A copy of the event `value` made malformed in the way `kind` names."""
    if kind == "truncated_json":
        return value[: rng.randrange(1, len(value) - 1)]
    event = orjson.loads(value)
    if kind == "wrong_type":
        name, wrong = rng.choice(_WRONG_TYPES)
        event[name] = wrong
    elif kind == "missing_field":
        del event[rng.choice(PUBLIC_FIELDS)]
    elif kind == "unknown_event_type":
        event["event_type"] = "teleport"
    else:
        event["search_query"] = "x" * OVERSIZED_BYTES
    return orjson.dumps(event)


class Injector:
    """Feed it the clean stream in order; `on_clean` sees every clean event as it is fed.

    `feed` returns the records to send now, `drain` those still held at the end, so the
    stream can come whole (produce) or batch by batch as a replay reads it.
    """

    def __init__(
        self,
        options: FaultOptions,
        seed: int,
        on_clean: Callable[[KeyedEvent], None] | None = None,
    ) -> None:
        self.options = options
        self.rng = random.Random(f"cartsim-faults-{seed}")
        self.on_clean = on_clean
        self.ready: deque[Outgoing] = deque()
        self.late: list[tuple[int, int, Outgoing]] = []  # (release event time, order, record)
        self.repeats: list[tuple[int, int, Outgoing]] = []  # (release position, order, record)
        self.waiting: dict[bytes, Outgoing] = {}  # session key -> record sent after its next
        self.position = 0  # records handed out so far
        self.order = 0
        self.clock = 0  # the latest event time fed, when late events are held

    def feed(self, records: Iterable[KeyedEvent]) -> list[Outgoing]:
        """What goes out after these clean records, in order."""
        options, rng, ready = self.options, self.rng, self.ready
        duplicate = options.duplicates
        late = duplicate + options.late
        reorder = late + options.reorder
        malformed = reorder + options.malformed
        out: list[Outgoing] = []
        for record in records:
            if self.on_clean is not None:
                self.on_clean(record)
            key, value = record
            if options.late:
                self.clock = max(self.clock, timestamp_ms(value))
                while self.late and self.late[0][0] <= self.clock:
                    ready.append(heapq.heappop(self.late)[2])
            before = self.waiting.pop(key, None)
            draw = rng.random()
            if draw < duplicate:
                ready.append((record, None))
                self._repeat((record, Fault("duplicate", event_id(value))))
            elif draw < late:
                delay = self._delay()
                fault = Fault("late", event_id(value), delay_ms=delay)
                self._push(self.late, timestamp_ms(value) + delay, (record, fault))
            elif draw < reorder and _EXIT not in value:
                self.waiting[key] = (record, Fault("reorder", event_id(value)))
            elif draw < malformed:
                ready.append((record, None))
                kind = rng.choice(MALFORMED_KINDS)
                bad = (key, corrupt(value, kind, rng))
                ready.append((bad, Fault("malformed", event_id(value), malformed=kind)))
            else:
                ready.append((record, None))
            if before is not None:
                ready.append(before)
            while self.repeats and self.repeats[0][0] <= self.position + len(ready):
                ready.append(heapq.heappop(self.repeats)[2])
            self.position += len(ready)
            out.extend(ready)
            ready.clear()
        return out

    def drain(self) -> list[Outgoing]:
        """Everything still held, in the order it would have gone: late, reordered, repeats."""
        held = list(self.ready)
        self.ready.clear()
        held += [item for *_, item in sorted(self.late)]
        held += list(self.waiting.values())
        held += [item for *_, item in sorted(self.repeats)]
        self.late, self.waiting, self.repeats = [], {}, []
        self.position += len(held)
        return held

    def _delay(self) -> int:
        mean = self.options.late_delay_ms
        return int(min(self.rng.expovariate(1 / mean), _LATE_CAP * mean)) if mean else 0

    def _repeat(self, item: Outgoing) -> None:
        rng = self.rng
        if rng.random() < 0.5:
            gap = rng.randrange(_SHORTLY)
        else:
            gap = min(int(rng.expovariate(1 / _LATER_MEAN)), _LATER_MAX)
        self._push(self.repeats, self.position + len(self.ready) + gap, item)

    def _push(self, heap: list[tuple[int, int, Outgoing]], at: int, item: Outgoing) -> None:
        self.order += 1
        heapq.heappush(heap, (at, self.order, item))
