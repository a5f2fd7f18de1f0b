"""Customer pools: Vietnamese, stable, made once."""

from __future__ import annotations

from cartsim.producer.customers import customer_pools


def test_pools_are_stable_vietnamese_and_cached() -> None:
    registered, guests = customer_pools(500, 100)
    assert [c.id for c in registered] == list(range(1, 501))
    assert all(c.id is None for c in guests)
    assert customer_pools(500, 100) is customer_pools(500, 100)
    customer_pools.cache_clear()
    assert customer_pools(500, 100)[0] == registered  # same people after a rebuild
    assert sum(any(ch in "ăâđêôơưạảấầẩẫậắằẳẵặ" for ch in c.name.lower()) for c in registered) > 250
    assert all(c.city in c.address for c in registered)
    assert len({c.city for c in registered}) >= 5
