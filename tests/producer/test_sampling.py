"""Lookup tables honour their weights to within one slot."""

from __future__ import annotations

from collections import Counter

import pytest

from cartsim.producer.sampling import BITS, quantiles, run_lengths, weighted_slots


def test_slots_follow_the_weights() -> None:
    weights = [70.19, 20.0, 9.81, 0.0]
    slots = weighted_slots(["a", "b", "c", "never"], weights)
    assert len(slots) == 1 << BITS
    counts = Counter(slots)
    for value, weight in zip("abc", weights, strict=False):
        assert abs(counts[value] - weight / 100 * len(slots)) <= 1
    assert "never" not in counts


def test_bad_tables_are_refused() -> None:
    with pytest.raises(ValueError):
        weighted_slots([1, 2], [1.0])


def test_quantiles_are_mid_points() -> None:
    values = quantiles(lambda u: u, bits=2)
    assert values == [0.125, 0.375, 0.625, 0.875]


def test_run_lengths_are_geometric_with_the_asked_mean() -> None:
    runs = run_lengths(1 - 1 / 6)
    assert min(runs) == 1 and abs(sum(runs) / len(runs) - 6) < 0.05
    assert max(runs) < 60  # the tail is cut, which bounds a session's length
    retries = run_lengths(0.08, least=0)
    assert abs(retries.count(0) / len(retries) - 0.92) < 0.001
    assert run_lengths(0.0) == [1] * (1 << BITS)
    with pytest.raises(ValueError):
        run_lengths(1.0)
