"""The product catalog: built deterministically on first use, stored once, loaded once per process.

`products.json.gz` under `share_data/` is the catalog other tools read too. When it is absent it
is built from `product_lines.py`; the build has no randomness beyond a fixed seed, so every
machine builds the same file byte for byte.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import random
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from cartsim.producer.product_lines import CATALOG_LINES

_BUILD_SEED = 20_240_101
_PRICE_JITTER = 0.04


@dataclass(frozen=True, slots=True)
class Product:
    id: int
    name: str
    category: str
    brand: str
    price_vnd: int


def retail_price(vnd: float) -> int:
    """Round like Vietnamese shops do: 25.990.000 above a million, 149.000 below."""
    if vnd >= 1_000_000:
        return max(1, round(vnd / 100_000)) * 100_000 - 10_000
    return max(1, round(vnd / 10_000)) * 10_000 - 1_000


def build_catalog() -> tuple[Product, ...]:
    """Every product line times its variants, ids from 1, prices jittered a little per product."""
    rng = random.Random(_BUILD_SEED)
    products: list[Product] = []
    for category, groups in CATALOG_LINES.items():
        for lines, variants in groups:
            for brand, line_name, base in lines:
                for suffix, extra in variants:
                    jitter = 1 + rng.uniform(-_PRICE_JITTER, _PRICE_JITTER)
                    products.append(
                        Product(
                            id=len(products) + 1,
                            name=f"{line_name} {suffix}".strip(),
                            category=category,
                            brand=brand,
                            price_vnd=retail_price((base + extra) * jitter),
                        )
                    )
    return tuple(products)


def write_catalog(path: Path, products: tuple[Product, ...]) -> None:
    """Atomically, so a concurrent reader never sees half a file; mtime 0 keeps bytes stable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = orjson.dumps([asdict(p) for p in products])
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(gzip.compress(data, mtime=0))
    os.replace(temporary, path)


def read_catalog(path: Path) -> tuple[Product, ...]:
    return tuple(Product(**row) for row in orjson.loads(gzip.decompress(path.read_bytes())))


_loaded: dict[Path, tuple[Product, ...]] = {}
_lock = threading.Lock()


def load_catalog(path: Path) -> tuple[Product, ...]:
    """The catalog at `path`, built there first if absent; one load per path per process.

    The lock makes concurrent first calls (threads, or `aload_catalog` from several tasks) share
    one build-or-read instead of racing to write the file.
    """
    path = path.resolve()
    with _lock:
        if path not in _loaded:
            if not path.exists():
                write_catalog(path, build_catalog())
            _loaded[path] = read_catalog(path)
        return _loaded[path]


async def aload_catalog(path: Path) -> tuple[Product, ...]:
    """`load_catalog` for event loops: the file work runs in a thread, never on the loop."""
    return await asyncio.to_thread(load_catalog, path)
