"""Re-timing replayed events, and making each loop's ids its own.

Every event of loop n is moved by `shift_ms + n * period_ms`: `--retime` sets `shift_ms` so the
first event lands on a chosen instant, and each later loop starts one period after the previous
one began (the recorded span plus one mean gap between events). `timestamp_unix` and `timestamp`
move together; `timestamp` keeps the UTC offset it had.

Ids of loop n > 0 get the suffix `-L<n>`: `event_id`, `session_id` (so the Kafka key too) and a
non-null `order_id`. Loop 0 keeps its ids, so one pass replays the recorded events unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import orjson

from cartsim.producer.decoding import Event


def loop_id(value: str, loop: int) -> str:
    """The id `value` takes in loop `loop`."""
    return value if loop == 0 else f"{value}-L{loop}"


def loop_period_ms(first_ms: int, last_ms: int, count: int) -> int:
    """Time from one loop's start to the next: the span plus the mean gap (at least 1 ms)."""
    span = last_ms - first_ms
    return span + max(1, round(span / (count - 1)) if count > 1 else 1000)


@lru_cache(maxsize=64)
def _zone(timestamp_tail: str) -> timezone:
    """The UTC offset at the end of an ISO timestamp (`+07:00`, `Z`); Vietnam's when none."""
    parsed = datetime.fromisoformat("2000-01-01T00:00:00" + timestamp_tail)
    offset = parsed.utcoffset()
    return timezone(offset if offset is not None else timedelta(hours=7))


def _tail(timestamp: str) -> str:
    if timestamp.endswith("Z"):
        return "Z"
    sign = max(timestamp.rfind("+"), timestamp.rfind("-"))
    return timestamp[sign:] if sign > 10 else ""


def iso(ms: int, zone: timezone) -> str:
    """An instant as the producer writes it: milliseconds and the offset."""
    moment = datetime.fromtimestamp(ms / 1000, zone)
    return moment.isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Retimer:
    """Moves loop `loop`'s events by `shift_ms + loop * period_ms`."""

    shift_ms: int = 0
    period_ms: int = 0

    def offset_ms(self, loop: int) -> int:
        return self.shift_ms + loop * self.period_ms

    def apply(self, events: list[Event], loop: int) -> list[Event]:
        offset = self.offset_ms(loop)
        if offset == 0 and loop == 0:
            return events
        return [self._moved(event, offset, loop) for event in events]

    @staticmethod
    def _moved(event: Event, offset: int, loop: int) -> Event:
        fields = orjson.loads(event.value)
        ts = event.ts + offset
        fields["timestamp_unix"] = ts
        fields["timestamp"] = iso(ts, _zone(_tail(fields["timestamp"])))
        if loop:
            fields["event_id"] = loop_id(fields["event_id"], loop)
            fields["session_id"] = loop_id(fields["session_id"], loop)
            if fields.get("order_id") is not None:
                fields["order_id"] = loop_id(fields["order_id"], loop)
        return Event(ts, fields["session_id"].encode(), orjson.dumps(fields), event.event_type)
