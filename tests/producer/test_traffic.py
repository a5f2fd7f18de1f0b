"""Traffic follows the Vietnamese clock, the weekday and sale days."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from itertools import pairwise
from typing import Any

from cartsim.moments import VIETNAM
from cartsim.producer.traffic import (
    TrafficProfile,
    backfill_buckets,
    even_buckets,
    steady_buckets,
)
from tests.producer.conftest import COUNT, END, START


def session_starts(sessions: dict[str, list[dict[str, Any]]]) -> list[datetime]:
    return [datetime.fromisoformat(s[0]["timestamp"]) for s in sessions.values()]


def test_evenings_are_busy_and_nights_quiet(sessions: dict[str, list[dict[str, Any]]]) -> None:
    hours = Counter(moment.hour for moment in session_starts(sessions))
    assert hours[21] > 8 * hours[4]
    assert hours[21] > hours[12] > hours[7]


def test_eleven_eleven_is_the_big_day(sessions: dict[str, list[dict[str, Any]]]) -> None:
    days = Counter(moment.date() for moment in session_starts(sessions))
    ordinary = days[date(2024, 11, 6)]  # a Wednesday
    assert days[date(2024, 11, 11)] > 2.5 * ordinary
    assert days[date(2024, 11, 10)] > ordinary  # a Sunday


def test_the_backfill_stays_in_range_and_has_the_exact_count(
    stream: list[dict[str, Any]],
) -> None:
    assert len(stream) == COUNT
    first, last = stream[0]["timestamp_unix"], stream[-1]["timestamp_unix"]
    assert START.timestamp() * 1000 <= first and last < END.timestamp() * 1000


def test_tet_shopping_rises_before_and_falls_during_the_holiday() -> None:
    profile = TrafficProfile()
    ordinary = profile.day_factor(date(2025, 3, 12))
    assert profile.day_factor(date(2025, 1, 20)) > 1.4 * ordinary  # 9 days before Tết 2025
    assert profile.day_factor(date(2025, 1, 30)) < 0.6 * ordinary  # Tết's second day


def test_backfill_buckets_split_the_count_exactly() -> None:
    start = int(datetime(2024, 1, 1, tzinfo=VIETNAM).timestamp() * 1000)
    end = int(datetime(2024, 1, 3, 5, 30, tzinfo=VIETNAM).timestamp() * 1000)
    buckets = list(backfill_buckets(TrafficProfile(), start, end, 1_234_567))
    assert buckets[0][0] == start and buckets[-1][1] == end and buckets[-1][2] == 1_234_567
    targets = [target for _, _, target in buckets]
    assert targets == sorted(targets)
    assert all(low < high for low, high, _ in buckets)
    assert all(a[1] == b[0] for a, b in pairwise(buckets))


def test_steady_buckets_keep_the_rate() -> None:
    buckets = steady_buckets(0, 12.5, 2_000)
    assert [next(buckets) for _ in range(3)] == [(0, 2000, 25), (2000, 4000, 50), (4000, 6000, 75)]


def test_even_buckets_split_the_count_exactly() -> None:
    buckets = list(even_buckets(1_000, 601_000, 240_001, per_bucket=100_000))
    assert [(low, high) for low, high, _ in buckets] == [(1_000, 301_000), (301_000, 601_000)]
    assert [target for _, _, target in buckets] == [120_000, 240_001]
