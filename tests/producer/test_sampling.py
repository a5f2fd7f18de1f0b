"""Lookup tables honour their weights to within one slot."""

from __future__ import annotations

from collections import Counter

import pytest

from producer.sampling import BITS, Table, quantiles


def test_slots_follow_the_weights() -> None:
    weights = [70.19, 20.0, 9.81, 0.0]
    slots = Table(["a", "b", "c", "never"], weights).slots
    assert len(slots) == 1 << BITS
    counts = Counter(slots)
    for value, weight in zip("abc", weights, strict=False):
        assert abs(counts[value] - weight / 100 * len(slots)) <= 1
    assert "never" not in counts


def test_bad_tables_are_refused() -> None:
    with pytest.raises(ValueError):
        Table([1, 2], [1.0])


def test_quantiles_are_mid_points() -> None:
    values = quantiles(lambda u: u, bits=2)
    assert values == [0.125, 0.375, 0.625, 0.875]
