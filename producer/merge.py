"""The stream from buckets: jobs out in order, events back merged by time.

The buckets of a run become jobs handed to a `Runner` (this process, or generator processes).
A bucket's events begin inside it, and those of sessions still going at its end spill into the
buckets after it. Once a bucket's answer is back, every event before its end is final: its own
events there, merged with what earlier buckets spilled into it. Ties go to the earlier bucket,
then the earlier session and event of that bucket, so the order does not depend on who made
them.

A bucket meets its event budget only on average. A run with a count makes its last bucket once
every earlier one is back, with the budget that makes the total come out at least the count.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Protocol

from cartsim.generation import BucketJob
from cartsim.producer.lines import Lines, interleave
from cartsim.producer.shop import Shop
from cartsim.producer.traffic import Bucket


class Runner(Protocol):
    """Makes buckets: answers come back in the order the jobs went in."""

    #: Jobs to keep out before waiting for the first answer, and events: an answer is waited
    #: for once both are out, or `most` jobs.
    ahead: int
    ahead_events: int
    most: int

    def submit(self, job: BucketJob) -> None: ...

    def result(self) -> Lines: ...


class InProcess:
    """A runner that makes each bucket here, when its answer is asked for."""

    ahead = ahead_events = most = 0

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.jobs: deque[BucketJob] = deque()

    def submit(self, job: BucketJob) -> None:
        self.jobs.append(job)

    def result(self) -> Lines:
        return self.shop.bucket(self.jobs.popleft())


def _merge(runs: list[Lines]) -> Lines:
    """Runs of consecutive buckets merged by time, ties to the earlier bucket."""
    merged = Lines()
    for run in runs:
        if len(run) <= len(merged):
            merged = interleave(merged, run, extras_first=False)
        else:
            merged = interleave(run, merged, extras_first=True)
    return merged


def _last_flagged(buckets: Iterable[Bucket]) -> Iterator[tuple[Bucket, bool]]:
    iterator = iter(buckets)
    current = next(iterator, None)
    while current is not None:
        following = next(iterator, None)
        yield current, following is None
        current = following


def stream(
    runner: Runner,
    buckets: Iterable[Bucket],
    count: int | None = None,
    until_ms: int | None = None,
    since_ms: int | None = None,
) -> Iterator[Lines]:
    """The events of `buckets` in time order, in pieces, at least `count` of them if given.

    `until_ms` and `since_ms` are passed to every job (see `BucketJob`).
    """
    out: deque[BucketJob] = deque()
    spilled: list[Lines] = []  # per earlier bucket, its events after the last bucket's end
    made = previous = pending = 0  # pending: the budgets of the jobs out

    def collect() -> Lines:
        nonlocal made, spilled, pending
        job = out.popleft()
        pending -= job.budget
        events = runner.result()
        made += len(events)
        own, later = events.before(job.high_ms)
        parts = [run.before(job.high_ms) for run in spilled]
        spilled = [rest for _, rest in parts if rest]
        if later:
            spilled.append(later)
        return _merge([*(early for early, _ in parts), own])

    for index, ((low, high, target), last) in enumerate(_last_flagged(buckets)):
        if last and count is not None:
            while out:
                yield collect()
            budget, at_least = max(0, count - made), True
        else:
            budget, at_least = max(0, target - previous), False
        previous = target
        job = BucketJob(
            index=index,
            low_ms=low,
            high_ms=high,
            budget=budget,
            at_least=at_least,
            until_ms=until_ms,
            since_ms=since_ms,
        )
        runner.submit(job)
        out.append(job)
        pending += budget
        while len(out) > runner.most or (
            len(out) > runner.ahead and pending >= runner.ahead_events
        ):
            yield collect()
    while out:
        yield collect()
    if spilled:
        yield _merge(spilled)
