"""The simulator: interleaved shopping sessions as a time-ordered stream of JSON event records.

One generator serves the three time modes; only the buckets of simulated time differ:

- live (`steady`): the clock starts "now" and sessions arrive at a steady event rate; a warm-up
  before now fills the shop with sessions already in progress and is not emitted;
- batch (`batch`): exactly `count` events at a steady rate over a window that ends at now;
- backfill (`backfill`): exactly `count` events spread over a historical range in proportion to
  the traffic profile (hour of day, weekday, sale days, Tết).

Each bucket's sessions start inside it and draw from its own share of the seed (see `shop`), and
the buckets' events are merged by time (see `merge`), so a seed always gives the same records,
however many processes make them; in live and batch mode only the timestamps move with "now".
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, islice

from cartsim.producer.catalog import Product
from cartsim.producer.config import JourneyConfig
from cartsim.producer.lines import Lines
from cartsim.producer.merge import InProcess, Runner, stream
from cartsim.producer.records import KeyedEvent
from cartsim.producer.shop import Shop
from cartsim.producer.traffic import (
    Bucket,
    TrafficProfile,
    backfill_buckets,
    even_buckets,
    steady_buckets,
)

_WARM_UP_MS = 5 * 60_000
_WARM_UP_EVENTS = 100_000
#: Events per bucket of simulated time: a session still going at a bucket's end costs a merge
#: of its later events, so a bucket must span many sessions' length to stay cheap.
_BUCKET_EVENTS = 100_000
#: A batch spans at least this long, so a small batch is still made of sessions of realistic
#: length rather than sessions squeezed into the few seconds its rate would give it.
_BATCH_MIN_WINDOW_MS = 15 * 60_000


def new_seed() -> int:
    """A fresh seed from the OS, for runs that were given none (print it to replay the run)."""
    return random.SystemRandom().getrandbits(63)


@dataclass(frozen=True)
class Schedule:
    """The buckets of simulated time of one run, and how to cut its stream."""

    buckets: Iterable[Bucket]
    #: Events of the run (None: endless).
    count: int | None = None
    #: Sessions end before this time.
    until_ms: int | None = None
    #: Events before this time are not sent.
    since_ms: int | None = None

    def lines(self, runner: Runner) -> Iterator[Lines]:
        """The run's events in time order, in pieces, made by `runner` (at least `count`)."""
        return stream(runner, self.buckets, self.count, self.until_ms, self.since_ms)

    def records(
        self, seed: int, products: Sequence[Product], config: JourneyConfig | None = None
    ) -> Iterator[KeyedEvent]:
        """The run's records, made in this process: exactly `count` of them if it has one."""
        pieces = self.lines(InProcess(Shop(seed, products, config)))
        records = chain.from_iterable(pieces)
        return records if self.count is None else islice(records, self.count)


def backfill_schedule(
    start: datetime, end: datetime, count: int, profile: TrafficProfile | None = None
) -> Schedule:
    """Exactly `count` events over [start, end), following the traffic profile."""
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    if end_ms <= start_ms:
        raise ValueError("the backfill range must end after it starts")
    profile = profile or TrafficProfile()
    buckets = backfill_buckets(profile, start_ms, end_ms, count, per_bucket=_BUCKET_EVENTS)
    return Schedule(buckets, count, until_ms=end_ms)


def batch_schedule(count: int, config: JourneyConfig, now_ms: int | None = None) -> Schedule:
    """Exactly `count` events that end at now: the last `count / batch_rate` seconds (at least
    `_BATCH_MIN_WINDOW_MS`) of a shop at a steady rate, so no timestamp lies in the future.

    The same seed and count give the same records at any time, but for their timestamps.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    window = max(_BATCH_MIN_WINDOW_MS, int(count / config.batch_rate * 1000))
    buckets = even_buckets(now_ms - window, now_ms, count, per_bucket=_BUCKET_EVENTS)
    return Schedule(buckets, count, until_ms=now_ms)


def steady_schedule(rate: float, now_ms: int | None = None) -> Schedule:
    """Endless events from now on at `rate` events/s: live mode, paced by the caller."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    warm_up = min(_WARM_UP_MS, int(_WARM_UP_EVENTS / rate * 1000))
    bucket_ms = max(1000, int(_BUCKET_EVENTS / rate * 1000))
    return Schedule(steady_buckets(now_ms - warm_up, rate, bucket_ms), since_ms=now_ms)


def backfill(
    seed: int,
    start: datetime,
    end: datetime,
    count: int,
    products: Sequence[Product],
    config: JourneyConfig | None = None,
    profile: TrafficProfile | None = None,
) -> Iterator[KeyedEvent]:
    """Exactly `count` records over [start, end), following the traffic profile."""
    return backfill_schedule(start, end, count, profile).records(seed, products, config)


def batch(
    seed: int,
    count: int,
    products: Sequence[Product],
    config: JourneyConfig | None = None,
    now_ms: int | None = None,
) -> Iterator[KeyedEvent]:
    """Exactly `count` records that end at now (see `batch_schedule`)."""
    config = config or JourneyConfig()
    return batch_schedule(count, config, now_ms).records(seed, products, config)


def steady(
    seed: int,
    rate: float,
    products: Sequence[Product],
    config: JourneyConfig | None = None,
    now_ms: int | None = None,
) -> Iterator[KeyedEvent]:
    """Endless records from now on at `rate` events/s: live mode, paced by the caller."""
    return steady_schedule(rate, now_ms).records(seed, products, config)
