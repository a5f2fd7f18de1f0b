"""Which events a replay keeps: an event-time range, event types, and a sample of sessions.

Sampling keeps whole sessions: a session is kept when a hash of (seed, session id) falls below
the fraction, so the same seed keeps the same sessions from any source, in any order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cartsim.producer.decoding import Event

_SCALE = float(1 << 64)
#: Sessions whose verdict is remembered; a session's events come close together.
_REMEMBERED = 100_000


def session_share(seed: int, session_id: bytes) -> float:
    """Where `session_id` falls in [0, 1) for `seed`: uniform, and the same on every run."""
    digest = hashlib.blake2b(session_id, digest_size=8, key=seed.to_bytes(8, "big", signed=True))
    return int.from_bytes(digest.digest(), "big") / _SCALE


@dataclass
class Selection:
    """The filters; `kept(events)` says which events are replayed."""

    start_ms: int | None = None  # inclusive
    end_ms: int | None = None  # inclusive, as the API's end_date
    event_types: frozenset[str] = frozenset()
    sample: float = 1.0
    seed: int = 0
    seen: int = 0  # events offered to `keep`
    _kept: dict[bytes, bool] = field(default_factory=dict, repr=False)

    @property
    def filters(self) -> bool:
        return bool(
            self.start_ms is not None
            or self.end_ms is not None
            or self.event_types
            or self.sample < 1.0
        )

    def kept(self, events: list[Event]) -> list[Event]:
        """The events of `events` that are replayed: a pass per filter that applies, so a
        replay without filters costs nothing per event."""
        self.seen += len(events)
        if self.start_ms is not None:
            start = self.start_ms
            events = [event for event in events if event.ts >= start]
        if self.end_ms is not None:
            end = self.end_ms
            events = [event for event in events if event.ts <= end]
        if self.event_types:
            types = self.event_types
            events = [event for event in events if event.event_type in types]
        if self.sample < 1.0:
            events = [event for event in events if self._sampled(event.key)]
        return events

    def _sampled(self, session: bytes) -> bool:
        kept = self._kept.get(session)
        if kept is None:
            if len(self._kept) >= _REMEMBERED:
                self._kept.clear()
            kept = self._kept[session] = session_share(self.seed, session) < self.sample
        return kept
