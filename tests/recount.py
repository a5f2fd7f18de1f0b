"""An independent recount of what the tables should hold, straight from events.

Deliberately naive (whole history in memory, no offsets, no watermarks), so it can disagree with
the aggregator when the aggregator is wrong.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cartsim.settings import Settings

Event = dict[str, Any]


@dataclass
class Recount:
    event_type: Counter[str] = field(default_factory=Counter)
    source: Counter[str] = field(default_factory=Counter)
    device: Counter[str] = field(default_factory=Counter)
    browser: Counter[str] = field(default_factory=Counter)
    products: dict[int, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * 5))
    funnel: Counter[str] = field(default_factory=Counter)
    revenue_vnd: int = 0
    orders: int = 0
    minutes: Counter[tuple[int, str]] = field(default_factory=Counter)
    abandoned: dict[str, int] = field(default_factory=dict)  # session -> cart value


def recount(partitions: Iterable[list[Event]], abandon_after_ms: int | None = None) -> Recount:
    """`partitions`: each partition's events in offset order; carts idle `abandon_after_ms`
    (by default the setting's) are abandoned."""
    if abandon_after_ms is None:
        abandon_after_ms = round(Settings().abandon_after_s * 1000)
    result = Recount()
    for events in partitions:
        clock = max((e["timestamp_unix"] for e in events), default=0)
        carts: dict[str, dict[int, list[int]]] = defaultdict(dict)
        stages: dict[str, set[str]] = defaultdict(set)
        last: dict[str, int] = {}
        bought: set[str] = set()
        for e in events:
            kind, sid, product = e["event_type"], e["session_id"], e.get("product_id")
            for name in ("event_type", "source", "device", "browser"):
                getattr(result, name)[e[name]] += 1
            result.minutes[(e["timestamp_unix"] // 60_000, kind)] += 1
            last[sid] = max(last.get(sid, 0), e["timestamp_unix"])
            stage = {
                "view_item": "viewed",
                "add_to_cart": "added",
                "begin_checkout": "checkout",
                "purchase": "purchased",
            }.get(kind)
            for reached in ("session", stage):
                if reached and reached not in stages[sid]:
                    stages[sid].add(reached)
                    result.funnel[reached] += 1
            cart = carts[sid]
            if kind == "view_item":
                result.products[product][0] += 1
            elif kind == "add_to_cart":
                result.products[product][1] += 1
                line = cart.setdefault(product, [0, e["product_price_vnd"]])
                line[0] += e["quantity"]
            elif kind == "remove_from_cart":
                result.products[product][2] += 1
                cart.pop(product, None)
            elif kind == "update_quantity" and product in cart:
                cart[product][0] = e["quantity"]
            elif kind == "purchase":
                result.orders += 1
                result.revenue_vnd += e["cart_total_vnd"] or 0
                for pid, (quantity, price) in cart.items():
                    result.products[pid][3] += quantity
                    result.products[pid][4] += quantity * price
                cart.clear()
                bought.add(sid)
        for sid, cart in carts.items():
            if cart and sid not in bought and last[sid] <= clock - abandon_after_ms:
                result.abandoned[sid] = sum(q * price for q, price in cart.values())
    return result
