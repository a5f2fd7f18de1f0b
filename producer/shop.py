"""The sessions that start in one bucket of simulated time, as JSON lines in time order.

A bucket is the unit of work of the generator processes, and a pure function of the seed, the
bucket's place in the stream and its bounds: its draws come from a generator seeded with a
splitmix64 mix of the seed and the bucket's index, and its session ids from a bijection of
(bucket index, session number in the bucket). No draw depends on another bucket, so buckets can
be made in any order, on any number of processes, and the stream is the same.
"""

from __future__ import annotations

import gc
import random
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter

from cartsim.generation import BucketJob
from cartsim.producer.catalog import Product
from cartsim.producer.config import JourneyConfig
from cartsim.producer.customers import customer_pools
from cartsim.producer.lines import INT64, Lines
from cartsim.producer.platforms import PLATFORMS
from cartsim.producer.queries import search_queries
from cartsim.producer.records import RecordEncoder, Step, Visitors
from cartsim.producer.sessions import JourneyModel

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_SESSIONS = 0x5E55_10A5_5E55_10A5
_at = itemgetter(0)


def mix(value: int) -> int:
    """splitmix64's finaliser: a bijection of 64-bit ints whose outputs look random."""
    z = value & _MASK
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


class Shop:
    """One process's simulator: the tables of a catalog and configuration, made once."""

    def __init__(
        self, seed: int, products: Sequence[Product], config: JourneyConfig | None = None
    ) -> None:
        self.config = config or JourneyConfig()
        self.stream = mix(seed * _GOLDEN)
        self.sessions = mix(self.stream ^ _SESSIONS)
        self.rng = random.Random()
        queries = search_queries(products)
        methods = list(self.config.payment_weights)
        encoder = RecordEncoder(products, [q for q, _ in queries], methods)
        self.journey = JourneyModel(self.config, products, queries, encoder).walker(self.rng)
        self.encode = encoder.encode
        pools = customer_pools(self.config.registered_customers, self.config.guest_profiles)
        self.visitor = Visitors(*pools, PLATFORMS).session

    def bucket(self, job: BucketJob) -> Lines:
        """The events of the sessions that start in the bucket, in time order.

        Sessions are drawn until the next one would overshoot the budget by more than stopping
        short of it (`at_least`: until the budget is met), so budgets are met on average and
        the last bucket of a run can make up the difference. Times are kept as milliseconds
        after the bucket's start: small ints, which CPython sorts and adds on its fast paths.
        """
        rng, journey, visitor = self.rng, self.journey, self.visitor
        rng.seed(mix(self.stream + job.index * _GOLDEN))
        draw, bits = rng.random, rng.getrandbits
        guest_share, low, budget = self.config.guest_share, job.low_ms, job.budget
        span = job.high_ms - low
        room = None if job.until_ms is None else job.until_ms - 1 - low
        number = self.sessions + (job.index << 32)
        steps: list[Step] = []
        made = 0
        with _without_gc():
            while made < budget:
                guest = draw() < guest_share
                session = visitor(bits, guest, b"%016x" % mix(number))
                number += 1
                journey_steps = journey(not guest, int(draw() * span), session)
                if not job.at_least and 2 * (made - budget) + len(journey_steps) > 0:
                    break
                if room is not None and journey_steps[-1][0] > room:
                    journey_steps = _fit(journey_steps, room)
                steps += journey_steps
                made += len(journey_steps)
            steps.sort(key=_at)
            if job.since_ms is not None:
                del steps[: bisect_left(steps, job.since_ms - low, key=_at)]
            stamps = array(INT64, [step[0] + low for step in steps])
            return Lines.of([value for _, value in self.encode(steps, low)], stamps)
