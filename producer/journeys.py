"""The simulator: interleaved shopping sessions as a time-ordered stream of JSON event records.

One generator serves the three time modes; only the buckets of simulated time differ:

- live (`steady`): the clock starts "now" and sessions arrive at a steady event rate; a warm-up
  before now fills the shop with sessions already in progress and is not emitted;
- batch (`batch`): exactly `count` events at a steady rate over a window that ends at now;
- backfill (`backfill`): exactly `count` events spread over a historical range in proportion to
  the traffic profile (hour of day, weekday, sale days, Tết).

Within a bucket the simulator draws sessions until the bucket's event budget is met, each with a
start time inside the bucket, and releases, in time order, every event that happens before the
bucket ends: later buckets' sessions start later, so released events are final. Everything
random comes from one `random.Random(seed)`, so a seed always gives the same records; in live
and batch mode only the timestamps move with "now"."""

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

from cartsim.producer.catalog import Product
from cartsim.producer.config import JourneyConfig
from cartsim.producer.customers import customer_pools
from cartsim.producer.platforms import PLATFORMS
from cartsim.producer.queries import search_queries
from cartsim.producer.records import Record, RecordEncoder, Step, Visitors
from cartsim.producer.sessions import JourneyModel
from cartsim.producer.traffic import (
    Bucket,
    TrafficProfile,
    backfill_buckets,
    even_buckets,
    steady_buckets,
)

_MASK = (1 << 64) - 1
_WARM_UP_MS = 5 * 60_000
_WARM_UP_EVENTS = 100_000
#: Events per bucket of simulated time: each bucket re-sorts the events still pending (those of
#: sessions in progress), so a bucket must hold many more events than that to stay cheap.
_BUCKET_EVENTS = 100_000
#: A batch spans at least this long, so a small batch is still made of sessions of realistic
#: length rather than sessions squeezed into the few seconds its rate would give it.
_BATCH_MIN_WINDOW_MS = 15 * 60_000
_at = itemgetter(0)


def new_seed() -> int:
    """A fresh seed from the OS, for runs that were given none (print it to replay the run)."""
    return random.SystemRandom().getrandbits(63)


def _session_number(index: int, key: int) -> int:
    """A bijection of the session counter (splitmix64's finaliser on counter + key): unique,
    random-looking ids."""
    z = (index + key) & _MASK
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


def _fit(steps: list[Step], room: int) -> list[Step]:
    """A session moved, or squeezed if it is longer than the room, to end by `room`.

    Used at the end of a range: a session that would run past it starts earlier (never before
    its bucket); one longer than the whole room keeps its order on a compressed clock.
    """
    first, last = steps[0][0], steps[-1][0]
    if last - first <= room:
        shift = last - room
        return [(ms - shift, head, body, session) for ms, head, body, session in steps]
    span = last - first
    return [((ms - first) * room // span, head, body, session) for ms, head, body, session in steps]


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
    `until_ms` starts earlier (never before its bucket), or is squeezed if it is longer than the
    room left, so a backfill or batch stays inside its range.
    Times are kept as milliseconds after the bucket's start: small ints, which CPython sorts
    and adds on its fast paths.
    """
    config = config or JourneyConfig()
    rng = random.Random(seed)
    draw, bits = rng.random, rng.getrandbits
    key = bits(64)
    queries = search_queries(products)
    encoder = RecordEncoder(products, [q for q, _ in queries], list(config.payment_weights))
    journey = JourneyModel(config, products, queries, encoder).walker(rng)
    encode = encoder.encode
    visitor = Visitors(
        *customer_pools(config.registered_customers, config.guest_profiles), PLATFORMS
    ).session
    guest_share = config.guest_share
    pending: list[Step] = []
    made = sessions = 0
    previous: int | None = None
    for low, high, target in buckets:
        with _without_gc():
            if pending and previous is not None and previous != low:
                shift = low - previous
                pending = [(ms - shift, head, body, s) for ms, head, body, s in pending]
            span = high - low
            room = None if until_ms is None else until_ms - 1 - low
            while made < target:
                guest = draw() < guest_share
                session_hex = b"%016x" % _session_number(sessions, key)
                sessions += 1
                session = visitor(bits, guest, session_hex)
                steps = journey(not guest, int(draw() * span), session)
                if room is not None and steps[-1][0] > room:
                    steps = _fit(steps, room)
                pending += steps
                made += len(steps)
            pending.sort(key=_at)
            first = 0 if since_ms is None else bisect_left(pending, since_ms - low, key=_at)
            ready = max(first, bisect_left(pending, span, key=_at))
            chunk = encode(pending[first:ready], low)
            del pending[:ready]
        previous = low
        yield chunk
    if pending and previous is not None:
        pending.sort(key=_at)
        yield encode(pending, previous)


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


def batch(
    seed: int,
    count: int,
    products: Sequence[Product],
    config: JourneyConfig | None = None,
    now_ms: int | None = None,
) -> Iterator[Record]:
    """Exactly `count` records that end at now: the last `count / batch_rate` seconds (at least
    `_BATCH_MIN_WINDOW_MS`) of a shop at a steady rate, so no timestamp lies in the future.

    The same seed and count give the same records at any time, but for their timestamps.
    """
    config = config or JourneyConfig()
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    window = max(_BATCH_MIN_WINDOW_MS, int(count / config.batch_rate * 1000))
    buckets = even_buckets(now_ms - window, now_ms, count, per_bucket=_BUCKET_EVENTS)
    return islice(
        chain.from_iterable(simulate(seed, buckets, products, config, until_ms=now_ms)), count
    )


def steady(
    seed: int,
    rate: float,
    products: Sequence[Product],
    config: JourneyConfig | None = None,
    now_ms: int | None = None,
) -> Iterator[Record]:
    """Endless records from now on at `rate` events/s: live mode, paced by the caller."""
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
    """Endless events as dicts at `batch_rate` from now, for tests and notebooks; the catalog
    defaults to the shop's."""
    if products is None:
        from cartsim.producer.catalog import load_catalog
        from cartsim.settings import get_settings
        from cartsim.storage import Layout

        products = load_catalog(Layout(get_settings().data_dir).products_path)
    config = config or JourneyConfig()
    stream = steady(new_seed() if seed is None else seed, config.batch_rate, products, config)
    return (orjson.loads(value) for _, value in stream)
