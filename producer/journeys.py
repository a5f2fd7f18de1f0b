"""Shopping sessions as sequences of cart events.

A first, simple journey model: browse, maybe add to cart, maybe check out, leave. Seeded and free
of global random state, so the same seed always yields the same sessions.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

VIETNAM = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")

_PRODUCTS = [
    (1, "Laptop ASUS TUF Gaming i7 16GB RAM", 25_990_000),
    (2, "iPhone 15 Pro Max 256GB", 29_490_000),
    (3, "Samsung Galaxy S24 Ultra 512GB", 27_990_000),
    (4, "Tai nghe Sony WH-1000XM5", 7_490_000),
    (5, "Màn hình Dell UltraSharp U2723QE 27 inch", 12_990_000),
    (6, "Apple Watch Series 9 45mm", 10_990_000),
]
_SOURCES = ("website", "mobile_app", "mobile_web")
_DEVICES = ("desktop", "mobile", "tablet")
_BROWSERS = ("Chrome", "Safari", "Cốc Cốc", "Firefox", "Edge")


def _event(
    rng: random.Random,
    session: dict[str, Any],
    event_type: str,
    product: tuple | None,
    quantity: int | None,
) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    product_id, name, price = product if product else (None, None, None)
    return {
        "event_id": f"evt_{uuid.UUID(int=rng.getrandbits(128)).hex}",
        "event_type": event_type,
        "timestamp": datetime.fromtimestamp(now_ms / 1000, VIETNAM).isoformat(
            timespec="milliseconds"
        ),
        "timestamp_unix": now_ms,
        **session,
        "product_id": product_id,
        "product_name": name,
        "product_price_vnd": price,
        "quantity": quantity,
        "line_total_vnd": price * quantity if price is not None and quantity else None,
    }


def sessions(seed: int | None = None) -> Iterator[list[dict[str, Any]]]:
    """An endless series of sessions, each a list of events in the order they happen."""
    rng = random.Random(seed)
    while True:
        guest = rng.random() < 0.3
        session = {
            "session_id": f"sess_{rng.getrandbits(64):016x}",
            "customer_id": None if guest else rng.randint(1, 50_000),
            "is_guest": guest,
            "source": rng.choice(_SOURCES),
            "device": rng.choice(_DEVICES),
            "browser": rng.choice(_BROWSERS),
        }
        events = []
        cart: list[tuple] = []
        for _ in range(rng.randint(1, 6)):
            product = rng.choice(_PRODUCTS)
            events.append(_event(rng, session, "view_item", product, None))
            if rng.random() < 0.4:
                cart.append(product)
                events.append(_event(rng, session, "add_to_cart", product, 1))
        if cart and rng.random() < 0.3:
            events.append(_event(rng, session, "begin_checkout", None, None))
            for product in cart:
                events.append(_event(rng, session, "purchase", product, 1))
        events.append(_event(rng, session, "exit_page", None, None))
        yield events


def events(seed: int | None = None) -> Iterator[dict[str, Any]]:
    """Sessions flattened into one stream of events."""
    for session in sessions(seed):
        yield from session
