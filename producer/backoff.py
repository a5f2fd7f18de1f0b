"""How long to wait before retrying a request, and when to stop trying.

Exponential backoff with full jitter (a uniform wait between 0 and base x 2^attempt, capped), so
that many clients failing together do not retry together; a server's `Retry-After` is obeyed
instead when it gives one. The whole retrying is bounded by a time budget per request.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delay seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class Backoff:
    """The retry state of one request: call `delay()` after each failure."""

    budget_s: float
    base_s: float = 0.05
    cap_s: float = 5.0
    attempts: int = 0
    started: float = field(default_factory=time.monotonic)
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, retry_after: float | None = None) -> float | None:
        """Seconds to wait before the next attempt; None when that would exceed the budget."""
        wait = (
            retry_after
            if retry_after is not None
            else self.rng.uniform(0, min(self.cap_s, self.base_s * 2**self.attempts))
        )
        self.attempts += 1
        if time.monotonic() + wait - self.started > self.budget_s:
            return None
        return wait

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started
