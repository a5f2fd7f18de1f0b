"""Weighted draws by table lookup: one `getrandbits` call instead of `random.choices`.

A categorical distribution becomes a list of 2**bits slots filled in proportion to the weights,
so a draw is an index into a list. With 12 bits every weight is honoured to within 1/4096, far
finer than any calibration here needs, and a draw costs about a tenth of `choices`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

BITS = 12


def weighted_slots(values: Sequence[T], weights: Sequence[float]) -> list[T]:
    """2**BITS slots holding `values` in proportion to `weights`: `slots[getrandbits(BITS)]`
    draws a value with probability proportional to its weight."""
    if len(values) != len(weights) or not values:
        raise ValueError("values and weights must be non-empty and of equal length")
    size = 1 << BITS
    total = float(sum(weights))
    # Largest-remainder apportionment: slot counts sum to exactly `size`.
    exact = [w / total * size for w in weights]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(values)), key=lambda i: counts[i] - exact[i])
    for i in by_remainder[: size - sum(counts)]:
        counts[i] += 1
    return [v for v, n in zip(values, counts, strict=True) for _ in range(n)]


def quantiles(inverse_cdf: Callable[[float], float], bits: int = BITS) -> list[float]:
    """Mid-point quantiles of a continuous distribution: a lookup table for, e.g., dwell times."""
    size = 1 << bits
    return [inverse_cdf((i + 0.5) / size) for i in range(size)]


def run_lengths(go_on: float, least: int = 1) -> list[int]:
    """Lookup table of a geometric count: `least`, then one more with chance `go_on` each time.

    One draw gives the length of a whole run (of browsing, of items, of payment retries) where a
    coin flip after every event would cost a draw per event. Mid-point quantiles cut the tail at
    about 1 in 8,000, which also bounds how long a session can grow.
    """
    if not 0.0 <= go_on < 1.0:
        raise ValueError("the chance to go on must be in [0, 1)")
    if go_on == 0.0:
        return [least] * (1 << BITS)
    log_go_on = math.log(go_on)
    return [least + int(math.log(1.0 - u) / log_go_on) for u in quantiles(lambda u: u)]
