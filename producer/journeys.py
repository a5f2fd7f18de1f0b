"""The simulator: interleaved shopping sessions as a time-ordered stream of JSON event records.

One generator serves the three time modes; only the buckets of simulated time differ:

- live and batch (`steady`): the clock starts "now" and sessions arrive at a steady event rate;
  a warm-up before now fills the shop with sessions already in progress and is not emitted;
- backfill (`backfill`): exactly `count` events spread over a historical range in proportion to
  the traffic profile (hour of day, weekday, sale days, Tết).

Within a bucket the simulator draws sessions until the bucket's event budget is met, gives them
sorted start times inside the bucket, and releases, in time order, every event that happens
before the bucket ends: later sessions start later, so released events are final. Everything
random comes from one `random.Random(seed)`, so a seed always gives the same records; in the
steady modes only the timestamps move with "now".
"""

from __future__ import annotations

import gc
import random
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import chain, islice
from operator import itemgetter
from typing import Any

import orjson

from producer.catalog import Product
from producer.config import JourneyConfig
from producer.customers import customer_pools
from producer.platforms import PLATFORMS
from producer.queries import search_queries
from producer.records import Due, Record, RecordEncoder, Visitors
from producer.sessions import JourneyModel
from producer.traffic import Bucket, TrafficProfile, backfill_buckets, steady_buckets

_MASK = (1 << 64) - 1
_WARM_UP_MS = 5 * 60_000
_WARM_UP_EVENTS = 100_000
#: Events per bucket of simulated time: each bucket re-sorts the events still pending (those of
#: sessions in progress), so a bucket must hold many more events than that to stay cheap.
_BUCKET_EVENTS = 100_000
_at = itemgetter(0)


def new_seed() -> int:
    """A fresh seed from the OS, for runs that were given none (print it to replay the run)."""
    return random.SystemRandom().getrandbits(63)


def _session_number(index: int, key: int) -> int:
    """A bijection of the session counter (splitmix64's finaliser): unique, random-looking ids."""
    z = ((index ^ key) * 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


@contextmanager
def _without_gc() -> Iterator[None]:
    """Pause the cyclic collector: a bucket makes millions of acyclic tuples it would only scan."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def simulate(
    seed: int,
    buckets: Iterable[Bucket],
    products: Sequence[Product],
    config: JourneyConfig | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> Iterator[list[Record]]:
    """Chunks of records in time order, sessions interleaved, one chunk per bucket.

    Events before `since_ms` are simulated but not released. A session that would run past
    `until_ms` starts earlier (never before its bucket), so a backfill stays inside its range.
    """
    config = config or JourneyConfig()
    rng = random.Random(seed)
    draw, bits = rng.random, rng.getrandbits
    key = bits(64)
    queries = search_queries(products)
    journey = JourneyModel(config, products, queries).journey
    encoder = RecordEncoder(products, [q for q, _ in queries], list(config.payment_weights))
    encode, context = encoder.encode, encoder.session
    visitor = Visitors(
        *customer_pools(config.registered_customers, config.guest_profiles), PLATFORMS
    ).fragments
    guest_share = config.guest_share
    pending: list[Due] = []
    made = sessions = 0
    for low, high, target in buckets:
        with _without_gc():
            drawn = []
            while made < target:
                guest = draw() < guest_share
                steps = journey(rng, not guest)
                drawn.append((guest, steps))
                made += len(steps)
            starts = sorted(int(draw() * (high - low)) for _ in drawn)
            for (guest, steps), start in zip(drawn, starts, strict=True):
                session_hex = b"%016x" % _session_number(sessions, key)
                sessions += 1
                begin, duration = low + start, steps[-1][0]
                if until_ms is not None and begin + duration >= until_ms:
                    begin = max(low, until_ms - 1 - duration)
                shared = context(session_hex, *visitor(bits, guest, session_hex))
                pending += [(float(begin + s[0]), i, s, shared) for i, s in enumerate(steps)]
            pending.sort(key=_at)
            first = 0 if since_ms is None else bisect_left(pending, since_ms, key=_at)
            ready = max(first, bisect_left(pending, high, key=_at))
            chunk = encode(pending[first:ready])
            del pending[:ready]
        yield chunk
    pending.sort(key=_at)
    yield encode(pending)


def backfill(
    seed: int,
    start: datetime,
    end: datetime,
    count: int,
    products: Sequence[Product],
    config: JourneyConfig | None = None,
    profile: TrafficProfile | None = None,
) -> Iterator[Record]:
    """Exactly `count` records over [start, end), following the traffic profile."""
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    if end_ms <= start_ms:
        raise ValueError("the backfill range must end after it starts")
    buckets = backfill_buckets(
        profile or TrafficProfile(), start_ms, end_ms, count, per_bucket=_BUCKET_EVENTS
    )
    return islice(
        chain.from_iterable(simulate(seed, buckets, products, config, until_ms=end_ms)), count
    )


def steady(
    seed: int,
    rate: float,
    products: Sequence[Product],
    config: JourneyConfig | None = None,
    now_ms: int | None = None,
) -> Iterator[Record]:
    """Endless records from now on at `rate` events/s (live, and batch with config.batch_rate)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    warm_up = min(_WARM_UP_MS, int(_WARM_UP_EVENTS / rate * 1000))
    bucket_ms = max(1000, int(_BUCKET_EVENTS / rate * 1000))
    buckets = steady_buckets(now_ms - warm_up, rate, bucket_ms)
    return chain.from_iterable(simulate(seed, buckets, products, config, since_ms=now_ms))


def events(
    seed: int | None = None,
    products: Sequence[Product] | None = None,
    config: JourneyConfig | None = None,
) -> Iterator[dict[str, Any]]:
    """Batch-mode events as dicts, for tests and notebooks; the catalog defaults to the shop's."""
    if products is None:
        from cartsim.settings import get_settings
        from cartsim.storage import Layout
        from producer.catalog import load_catalog

        products = load_catalog(Layout(get_settings().data_dir).products_path)
    config = config or JourneyConfig()
    stream = steady(new_seed() if seed is None else seed, config.batch_rate, products, config)
    return (orjson.loads(value) for _, value in stream)
