"""When shoppers come: the traffic intensity by local hour, weekday and sale day.

Vietnamese shopping traffic has a lunch peak and a larger evening peak (20:00-22:00), is a little
higher at weekends, multiplies on the "double day" sales (9.9, 10.10, 11.11, 12.12; 11.11 is the
year's biggest) and in the fortnight before Tết, and falls during the Tết holiday itself.
All of it is in Asia/Ho_Chi_Minh time, which is UTC+07:00 all year (no daylight saving).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from cartsim.moments import VIETNAM

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
OFFSET_MS = 7 * HOUR_MS  # VIETNAM's offset

#: First day of Tết (Lunar New Year) in Vietnam.
TET_DAYS: tuple[date, ...] = (
    date(2020, 1, 25),
    date(2021, 2, 12),
    date(2022, 2, 1),
    date(2023, 1, 22),
    date(2024, 2, 10),
    date(2025, 1, 29),
    date(2026, 2, 17),
    date(2027, 2, 6),
    date(2028, 1, 26),
    date(2029, 2, 13),
    date(2030, 2, 3),
)


@dataclass(frozen=True)
class TrafficProfile:
    """Relative traffic intensity; only ratios matter, the event count sets the scale."""

    #: Local hours 0..23.
    hourly: tuple[float, ...] = (
        2.5, 1.5, 0.9, 0.6, 0.5, 0.7, 1.5, 2.8, 4.0, 5.0, 5.6, 6.0,
        6.3, 5.6, 5.0, 5.0, 5.0, 4.8, 5.0, 6.0, 7.2, 7.6, 6.2, 4.2,
    )  # fmt: skip
    #: Monday..Sunday.
    weekday: tuple[float, ...] = (1.0, 0.98, 0.98, 0.97, 1.0, 1.08, 1.12)
    #: (month, day, factor) of recurring sale days.
    sale_days: tuple[tuple[int, int, float], ...] = (
        (9, 9, 1.8),
        (10, 10, 1.8),
        (11, 11, 3.0),
        (12, 12, 2.5),
    )
    tet_days: tuple[date, ...] = TET_DAYS
    pre_tet_days: int = 14
    pre_tet_factor: float = 1.6
    tet_holiday_days: int = 5
    tet_holiday_factor: float = 0.45

    def day_factor(self, day: date) -> float:
        factor = self.weekday[day.weekday()]
        for month, dom, sale in self.sale_days:
            if day.month == month and day.day == dom:
                factor *= sale
        for tet in self.tet_days:
            before = (tet - day).days
            if 0 < before <= self.pre_tet_days:
                factor *= self.pre_tet_factor
            elif 0 <= -before < self.tet_holiday_days:
                factor *= self.tet_holiday_factor
        return factor

    def hour_weights(self, start_ms: int, end_ms: int) -> Iterator[tuple[int, int, float]]:
        """(from, to, weight) for each local clock hour overlapping [start_ms, end_ms)."""
        hour = start_ms - (start_ms + OFFSET_MS) % HOUR_MS
        day: date | None = None
        factor = 0.0
        while hour < end_ms:
            local = datetime.fromtimestamp(hour / 1000, VIETNAM)
            if local.date() != day:
                day = local.date()
                factor = self.day_factor(day)
            low, high = max(hour, start_ms), min(hour + HOUR_MS, end_ms)
            yield low, high, self.hourly[local.hour] * factor * (high - low) / HOUR_MS
            hour += HOUR_MS


Bucket = tuple[int, int, int]
"""(from ms, to ms, events to have generated in total by the end of this bucket)."""


def backfill_buckets(
    profile: TrafficProfile, start_ms: int, end_ms: int, events: int, per_bucket: int = 8_000
) -> Iterator[Bucket]:
    """Spread `events` over [start_ms, end_ms) in proportion to the profile's intensity.

    Targets are cumulative, so rounding never accumulates and the last one is exactly `events`;
    a busy hour is cut into buckets of about `per_bucket` events to bound memory.
    """
    hours = list(profile.hour_weights(start_ms, end_ms))
    total = sum(weight for _, _, weight in hours)
    done = 0.0
    for index, (low, high, weight) in enumerate(hours):
        parts = max(1, round(events * weight / total / per_bucket))
        for part in range(parts):
            done += weight / parts
            last = index == len(hours) - 1 and part == parts - 1
            yield (
                low + (high - low) * part // parts,
                low + (high - low) * (part + 1) // parts,
                events if last else round(events * done / total),
            )


def even_buckets(
    start_ms: int, end_ms: int, events: int, per_bucket: int = 8_000
) -> Iterator[Bucket]:
    """Spread `events` evenly over [start_ms, end_ms), in buckets of about `per_bucket` events.

    Bucket bounds depend only on the range's length and the count, not on the clock time, so
    a batch's events are the same whenever it runs; only their timestamps move.
    """
    parts = max(1, round(events / per_bucket))
    for part in range(parts):
        yield (
            start_ms + (end_ms - start_ms) * part // parts,
            start_ms + (end_ms - start_ms) * (part + 1) // parts,
            events * (part + 1) // parts,
        )


def steady_buckets(start_ms: int, rate: float, bucket_ms: int = 1000) -> Iterator[Bucket]:
    """Endless buckets from `start_ms` at `rate` events per second (live and batch modes)."""
    index = 0
    while True:
        yield (
            start_ms + index * bucket_ms,
            start_ms + (index + 1) * bucket_ms,
            round(rate * (index + 1) * bucket_ms / 1000),
        )
        index += 1
