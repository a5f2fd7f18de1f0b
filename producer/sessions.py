"""One shopping session as a state machine: browse, fill a cart, check out or abandon, leave.

A session is decided up front in two coin flips: does it add to cart, and if so will it buy.
That makes the calibrated rates exact in expectation (abandonment is `cart_abandonment` of the
sessions that add to cart) while the path to the outcome stays varied: abandoners leave from the
cart, after begin_checkout, after shipping, or at payment; buyers may see a payment fail and
retry. The cart is real: removals and quantity updates only touch lines in it, checkout needs it
non-empty, and every cart event carries the total after the change.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from statistics import NormalDist

from cartsim.events import EVENT_TYPES
from producer.catalog import Product
from producer.config import JourneyConfig
from producer.sampling import BITS, Table, quantiles

KIND = {name: index for index, name in enumerate(EVENT_TYPES)}
VIEW, SEARCH, SCROLL = KIND["view_item"], KIND["search"], KIND["scroll"]
ADD, REMOVE, UPDATE = KIND["add_to_cart"], KIND["remove_from_cart"], KIND["update_quantity"]
WISH, CHECKOUT = KIND["add_to_wish_list"], KIND["begin_checkout"]
SHIPPING, PAYMENT = KIND["add_shipping_info"], KIND["add_payment_info"]
PURCHASE, FAILED = KIND["purchase"], KIND["payment_failed"]
CANCELLED, EXIT = KIND["order_cancelled"], KIND["exit_page"]

Step = tuple[int, int, int, int, int, int, int]
"""(ms after session start, kind, product index or -1, quantity or 0, cart total or -1,
search query index or -1, payment method index or -1)."""

_POPULARITY_EXPONENT = 0.8
_CATEGORY_INTEREST = {
    "phones": 24.0,
    "laptops": 18.0,
    "accessories": 14.0,
    "audio": 11.0,
    "tablets": 7.0,
    "wearables": 7.0,
    "monitors": 6.0,
    "pc_components": 6.0,
    "smart_home": 4.0,
    "cameras": 3.0,
}


def _continue(mean: float) -> float:
    """Chance to go on after each event, so the count of events (at least one) has this mean."""
    return 1.0 - 1.0 / max(mean, 1.0)


class JourneyModel:
    """Pre-computed tables for fast journeys over one catalog and one configuration."""

    def __init__(
        self, config: JourneyConfig, products: Sequence[Product], queries: Sequence[tuple[str, str]]
    ) -> None:
        self.config = config
        self.prices = [p.price_vnd for p in products]
        weights = []
        per_category: dict[str, list[int]] = {}
        for index, product in enumerate(products):
            rank = len(per_category.setdefault(product.category, []))
            per_category[product.category].append(index)
            interest = _CATEGORY_INTEREST.get(product.category, 3.0)
            weights.append(interest / (rank + 1) ** _POPULARITY_EXPONENT)
        self.popular = Table(range(len(products)), weights).slots
        self.by_category = {
            category: Table(indexes, [weights[i] for i in indexes]).slots
            for category, indexes in per_category.items()
        }
        self.query_category = [category for _, category in queries]
        self.queries = Table(range(len(queries)), [1.0] * len(queries)).slots
        self.browse = Table([VIEW, SEARCH, SCROLL], [55.0, 20.0, 25.0]).slots
        self.quantities = Table([1, 2, 3], config.quantity_weights).slots
        self.stages = Table([0, 1, 2, 3], config.abandon_stage_weights).slots
        methods = config.payment_weights
        self.payments = Table(range(len(methods)), list(methods.values())).slots
        self.gaps = [self._gaps(config, name) for name in EVENT_TYPES]
        self.browse_on = _continue(config.mean_browse_events)
        self.browse_before_add = _continue(config.mean_browse_before_add)

    @staticmethod
    def _gaps(config: JourneyConfig, kind: str) -> list[int]:
        """Milliseconds before an event of `kind`: log-normal quantiles around its median."""
        median, sigma, cap = config.dwell_s[kind], config.dwell_sigma, config.max_dwell_s
        normal = NormalDist()

        def seconds(u: float) -> float:
            return min(cap, median * math.exp(sigma * normal.inv_cdf(u)))

        return [max(1, round(value * 1000)) for value in quantiles(seconds)]

    def journey(self, rng: random.Random, registered: bool) -> list[Step]:
        """The events of one session, in order, with offsets from its start."""
        config = self.config
        draw, bits = rng.random, rng.getrandbits
        gaps, prices = self.gaps, self.prices
        steps: list[Step] = []
        append = steps.append
        popular, by_category, queries = self.popular, self.by_category, self.queries
        query_category, browse_kinds = self.query_category, self.browse
        view_gaps, wish_gaps = gaps[VIEW], gaps[WISH]
        search_gaps, scroll_gaps = gaps[SEARCH], gaps[SCROLL]
        search_focus, wish_share = config.search_focus, config.wish_list_share
        elapsed = 0
        cart: dict[int, int] = {}
        total = 0
        focus: list[int] | None = None

        def exit_page() -> list[Step]:
            append((elapsed + gaps[EXIT][bits(BITS)], EXIT, -1, 0, -1, -1, -1))
            return steps

        def cart_step(kind: int, product: int, quantity: int) -> None:
            nonlocal elapsed
            elapsed += gaps[kind][bits(BITS)]
            steps.append((elapsed, kind, product, quantity, total, -1, -1))

        def view() -> int:
            nonlocal elapsed
            pool = focus if focus is not None and draw() < search_focus else popular
            product = pool[bits(BITS)]
            elapsed += view_gaps[bits(BITS)]
            append((elapsed, VIEW, product, 0, -1, -1, -1))
            if registered and draw() < wish_share:
                elapsed += wish_gaps[bits(BITS)]
                append((elapsed, WISH, product, 0, -1, -1, -1))
            return product

        def browse(go_on: float) -> None:
            """Views, searches and scrolls: the simulator's hottest loop, so steps are inlined."""
            nonlocal elapsed, focus
            while True:
                kind = browse_kinds[bits(BITS)]
                if kind == VIEW:
                    view()
                elif kind == SEARCH:
                    query = queries[bits(BITS)]
                    focus = by_category[query_category[query]]
                    elapsed += search_gaps[bits(BITS)]
                    append((elapsed, SEARCH, -1, 0, -1, query, -1))
                else:
                    elapsed += scroll_gaps[bits(BITS)]
                    append((elapsed, SCROLL, -1, 0, -1, -1, -1))
                if draw() >= go_on:
                    return

        def checkout_step(kind: int, payment: int = -1) -> None:
            nonlocal elapsed
            elapsed += gaps[kind][bits(BITS)]
            steps.append((elapsed, kind, -1, 0, total, -1, payment))

        if draw() >= config.cart_session_share:
            browse(self.browse_on)
            return exit_page()

        buys = draw() >= config.cart_abandonment
        while True:
            if draw() < 0.8:
                browse(self.browse_before_add)
            product = view()
            quantity = self.quantities[bits(BITS)]
            cart[product] = cart.get(product, 0) + quantity
            total += prices[product] * quantity
            cart_step(ADD, product, quantity)
            if draw() >= config.another_item_share:
                break

        if draw() < config.update_quantity_share:
            product = list(cart)[bits(BITS) % len(cart)]
            quantity = cart[product] % 3 + 1  # always a different quantity, 1..3
            total += prices[product] * (quantity - cart[product])
            cart[product] = quantity
            cart_step(UPDATE, product, quantity)
        if draw() < config.remove_share and (len(cart) > 1 or not buys):
            product = list(cart)[bits(BITS) % len(cart)]
            quantity = cart.pop(product)
            total -= prices[product] * quantity
            cart_step(REMOVE, product, quantity)

        stage = 4 if buys else self.stages[bits(BITS)]
        if not cart or stage == 0:
            browse(self.browse_before_add)
            return exit_page()
        checkout_step(CHECKOUT)
        if stage >= 2:
            checkout_step(SHIPPING)
        if stage >= 3:
            payment = self.payments[bits(BITS)]
            checkout_step(PAYMENT, payment)
            if stage == 3:
                if draw() < config.abandon_payment_failure:
                    checkout_step(FAILED, payment)
            else:
                while draw() < config.payment_failure_rate:
                    checkout_step(FAILED, payment)
                    payment = self.payments[bits(BITS)]
                    checkout_step(PAYMENT, payment)
                checkout_step(PURCHASE, payment)
                if draw() < config.cancel_share:
                    checkout_step(CANCELLED, payment)
        return exit_page()
