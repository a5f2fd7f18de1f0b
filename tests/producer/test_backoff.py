"""Backoff: full jitter under a growing cap, Retry-After obeyed, and a time budget."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from cartsim.producer.backoff import Backoff, retry_after_s


def test_waits_are_jittered_below_a_doubling_cap() -> None:
    backoff = Backoff(budget_s=1e9, base_s=0.1, cap_s=1.0, rng=random.Random(1))
    waits = [backoff.delay() for _ in range(200)]
    assert all(w is not None for w in waits)
    for attempt, wait in enumerate(waits):
        assert wait is not None and 0 <= wait <= min(1.0, 0.1 * 2**attempt)
    assert len({round(w or 0, 6) for w in waits}) > 150  # jittered, not fixed steps


def test_retry_after_replaces_the_jitter_and_the_budget_ends_retrying() -> None:
    backoff = Backoff(budget_s=5.0)
    assert backoff.delay(retry_after=3.0) == 3.0
    assert backoff.delay(retry_after=6.0) is None  # would end after the budget
    assert backoff.attempts == 2


def test_retry_after_as_seconds_or_an_http_date() -> None:
    now = datetime(2024, 11, 11, 13, 0, 0, tzinfo=UTC)
    assert retry_after_s("7") == 7.0
    assert retry_after_s("Mon, 11 Nov 2024 13:00:30 GMT", now) == 30.0
    assert retry_after_s("Mon, 11 Nov 2024 12:00:00 GMT", now) == 0.0
    assert retry_after_s("soon") is None and retry_after_s(None) is None
