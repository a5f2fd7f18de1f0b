"""The catalog: big enough, plausible, deterministic, and loaded once."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path

import pytest

from cartsim.producer import catalog
from cartsim.producer.catalog import (
    Product,
    aload_catalog,
    build_catalog,
    load_catalog,
    retail_price,
)

#: Plausible VND price bands per category (a shop's cheapest to dearest item).
PRICE_BANDS = {
    "laptops": (8_000_000, 60_000_000),
    "phones": (2_000_000, 50_000_000),
    "tablets": (3_000_000, 45_000_000),
    "audio": (500_000, 10_000_000),
    "wearables": (600_000, 30_000_000),
    "monitors": (1_500_000, 15_000_000),
    "pc_components": (500_000, 30_000_000),
    "accessories": (100_000, 4_000_000),
    "cameras": (1_500_000, 70_000_000),
    "smart_home": (150_000, 20_000_000),
}


def test_the_catalog_is_big_and_plausible(products: tuple[Product, ...]) -> None:
    assert len(products) >= 300
    assert [p.id for p in products] == list(range(1, len(products) + 1))
    categories = Counter(p.category for p in products)
    assert set(categories) == set(PRICE_BANDS) and min(categories.values()) >= 15
    for product in products:
        low, high = PRICE_BANDS[product.category]
        assert low <= product.price_vnd <= high, product
        assert product.brand in product.name or product.brand == "Apple"
    assert len({p.name for p in products}) == len(products)
    assert {"ASUS", "Samsung", "Apple", "Xiaomi", "OPPO"} <= {p.brand for p in products}


def test_prices_end_like_shop_prices() -> None:
    assert retail_price(25_987_654) == 25_990_000
    assert retail_price(151_234) == 149_000


def test_the_build_is_deterministic(tmp_path: Path) -> None:
    catalog.write_catalog(tmp_path / "a.json.gz", build_catalog())
    catalog.write_catalog(tmp_path / "b.json.gz", build_catalog())
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes()
    assert catalog.read_catalog(tmp_path / "a.json.gz") == build_catalog()


@pytest.fixture
def counted_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    builds: list[int] = []

    def build() -> tuple[Product, ...]:
        builds.append(1)
        return build_catalog()

    monkeypatch.setattr(catalog, "build_catalog", build)
    return builds


def test_concurrent_first_loads_share_one_build(tmp_path: Path, counted_builds: list[int]) -> None:
    path = tmp_path / "share_data" / "products.json.gz"
    results: list[tuple[Product, ...]] = []
    threads = [
        threading.Thread(target=lambda: results.append(load_catalog(path))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counted_builds == [1] and path.exists()
    assert all(result is results[0] for result in results)


def test_concurrent_async_loads_share_one_build(tmp_path: Path, counted_builds: list[int]) -> None:
    path = tmp_path / "products.json.gz"

    async def load_many() -> list[tuple[Product, ...]]:
        return await asyncio.gather(*(aload_catalog(path) for _ in range(8)))

    results = asyncio.run(load_many())
    assert counted_builds == [1]
    assert all(result is results[0] for result in results)
    assert load_catalog(path) is results[0]
