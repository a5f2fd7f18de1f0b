"""One shopping session as a state machine: browse, fill a cart, check out or abandon, leave.

A session is decided up front in two coin flips: does it add to cart, and if so will it buy.
That makes the calibrated rates exact in expectation (abandonment is `cart_abandonment` of the
sessions that add to cart) while the path to the outcome stays varied: abandoners leave from the
cart, after begin_checkout, after shipping, or at payment; buyers may see a payment fail and
retry. The cart is real: removals and quantity updates only touch lines in it, checkout needs it
non-empty, and every cart event carries the total after the change.

Each step is emitted as the record fragments that do not depend on time (see `records`), so a
step is made once and only joined with its clock when released.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from statistics import NormalDist

from cartsim.events import EVENT_TYPES
from cartsim.producer.catalog import Product
from cartsim.producer.config import JourneyConfig
from cartsim.producer.records import RecordEncoder, Session, Step
from cartsim.producer.sampling import BITS, run_lengths, weighted_slots

KIND = {name: index for index, name in enumerate(EVENT_TYPES)}
VIEW, SEARCH, SCROLL = KIND["view_item"], KIND["search"], KIND["scroll"]
ADD, REMOVE, UPDATE = KIND["add_to_cart"], KIND["remove_from_cart"], KIND["update_quantity"]
WISH, CHECKOUT = KIND["add_to_wish_list"], KIND["begin_checkout"]
SHIPPING, PAYMENT = KIND["add_shipping_info"], KIND["add_payment_info"]
PURCHASE, FAILED = KIND["purchase"], KIND["payment_failed"]
CANCELLED, EXIT = KIND["order_cancelled"], KIND["exit_page"]

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
#: Chance that a shopper browses again before each further add to cart.
_BROWSE_BEFORE_ADD = 0.8


def _continue(mean: float) -> float:
    """Chance to go on after each event, so the count of events (at least one) has this mean."""
    return 1.0 - 1.0 / max(mean, 1.0)


class JourneyModel:
    """Pre-computed tables for fast journeys over one catalog, configuration and encoder."""

    def __init__(
        self,
        config: JourneyConfig,
        products: Sequence[Product],
        queries: Sequence[tuple[str, str]],
        encoder: RecordEncoder,
    ) -> None:
        self.config = config
        self.encoder = encoder
        self.prices = [p.price_vnd for p in products]
        weights = []
        per_category: dict[str, list[int]] = {}
        for index, product in enumerate(products):
            rank = len(per_category.setdefault(product.category, []))
            per_category[product.category].append(index)
            interest = _CATEGORY_INTEREST.get(product.category, 3.0)
            weights.append(interest / (rank + 1) ** _POPULARITY_EXPONENT)
        self.popular = weighted_slots(range(len(products)), weights)
        # After a search, a view follows the query's category with chance `search_focus`:
        # one table per category mixes the two, so a view is a single draw.
        total, focus = sum(weights), config.search_focus
        focused = {}
        for category, indexes in per_category.items():
            mixed = [(1 - focus) * w / total for w in weights]
            in_category = sum(weights[i] for i in indexes)
            for i in indexes:
                mixed[i] += focus * weights[i] / in_category
            focused[category] = weighted_slots(range(len(products)), mixed)
        self.after_query = [focused[category] for _, category in queries]
        self.queries = weighted_slots(range(len(queries)), [1.0] * len(queries))
        kinds = weighted_slots([VIEW, SEARCH, SCROLL], [55.0, 20.0, 25.0])
        #: (kind, ms before it) of a browse event: one draw picks both; each kind's slots hold
        #: mid-point quantiles of its own dwell time.
        self.browsing = [
            (kind, gap)
            for kind in (VIEW, SEARCH, SCROLL)
            for gap in self._dwell(config, EVENT_TYPES[kind], kinds.count(kind))
        ]
        self.quantities = weighted_slots([1, 2, 3], config.quantity_weights)
        self.stages = weighted_slots([0, 1, 2, 3], config.abandon_stage_weights)
        methods = config.payment_weights
        self.payments = weighted_slots(range(len(methods)), list(methods.values()))
        self.gaps = [self._gaps(config, name) for name in EVENT_TYPES]
        self.browse_runs = run_lengths(_continue(config.mean_browse_events))
        self.browse_before_add = run_lengths(_continue(config.mean_browse_before_add))
        self.items = run_lengths(config.another_item_share)
        self.retries = run_lengths(config.payment_failure_rate, least=0)
        self.heads = encoder.heads_up_to(self.max_events())

    def max_events(self) -> int:
        """The most events a session can have: the run-length tables bound every loop."""
        browsing, before_add = max(self.browse_runs), max(self.browse_before_add)
        # Every browse event may be a view followed by a wish-list event.
        adds = max(self.items) * (2 * before_add + 3)  # browse, view, wish, add
        checkout = 3 + 2 * max(self.retries) + 3  # checkout .. payment, retries, buy, cancel, exit
        return max(2 * browsing + 1, adds + 2 + max(2 * before_add + 1, checkout))

    @classmethod
    def _gaps(cls, config: JourneyConfig, kind: str) -> list[int]:
        """Milliseconds before an event of `kind`: a lookup table of `BITS` bits."""
        return cls._dwell(config, kind, 1 << BITS)

    @staticmethod
    def _dwell(config: JourneyConfig, kind: str, size: int) -> list[int]:
        """`size` mid-point quantiles, in ms, of the log-normal dwell time before `kind`."""
        median, sigma, cap = config.dwell_s[kind], config.dwell_sigma, config.max_dwell_s
        normal = NormalDist()
        return [
            max(1, round(1000 * min(cap, median * math.exp(sigma * normal.inv_cdf(u)))))
            for u in ((i + 0.5) / size for i in range(size))
        ]

    def walker(self, rng: random.Random) -> Callable[[bool, int, Session], list[Step]]:
        """`journey(registered, start, session)`: the steps of one session that starts at `start`
        (ms after its bucket's start), every draw from `rng`.

        All that a journey reads is bound here once, as variables of the closures, so a session
        pays for no attribute lookups or method bindings, which would be a tenth of its cost.
        """
        config, encoder = self.config, self.encoder
        bits, draw = rng.getrandbits, rng.random
        heads, gaps, viewed, searched = self.heads, self.gaps, encoder.viewed, encoder.searched
        bare, cart_body, checkout = encoder.bare, encoder.cart, encoder.checkout
        view_heads, search_heads, scroll_heads = heads[VIEW], heads[SEARCH], heads[SCROLL]
        wish_heads, exit_heads = heads[WISH], heads[EXIT]
        wish_gaps, exit_gaps = gaps[WISH], gaps[EXIT]
        browsing, queries, after_query, popular = (
            self.browsing,
            self.queries,
            self.after_query,
            self.popular,
        )
        browse_runs, before_add, items = self.browse_runs, self.browse_before_add, self.items
        wish_share, cart_share = config.wish_list_share, config.cart_session_share

        def browse(
            runs: list[int],
            steps: list[Step],
            ms: int,
            pool: list[int],
            session: Session,
            registered: bool,
        ) -> tuple[int, list[int]]:
            """A run of views, searches and scrolls: the simulator's hottest loop.

            Returns the time of the last event and the pool the next view draws from.
            """
            append, n = steps.append, len(steps)
            for _ in range(runs[bits(BITS)]):
                kind, gap = browsing[bits(BITS)]
                ms += gap
                if kind == VIEW:
                    product = pool[bits(BITS)]
                    append((ms, view_heads[n], viewed[product], session))
                    n += 1
                    if registered and draw() < wish_share:
                        ms += wish_gaps[bits(BITS)]
                        append((ms, wish_heads[n], viewed[product], session))
                        n += 1
                elif kind == SEARCH:
                    query = queries[bits(BITS)]
                    pool = after_query[query]
                    append((ms, search_heads[n], searched[query], session))
                    n += 1
                else:
                    append((ms, scroll_heads[n], bare, session))
                    n += 1
            return ms, pool

        def journey(registered: bool, start: int, session: Session) -> list[Step]:
            steps: list[Step] = []
            if draw() >= cart_share:
                ms, _ = browse(browse_runs, steps, start, popular, session, registered)
                steps.append((ms + exit_gaps[bits(BITS)], exit_heads[len(steps)], bare, session))
                return steps
            return shop(steps, start, session, registered)

        def shop(steps: list[Step], ms: int, session: Session, registered: bool) -> list[Step]:
            """A session that adds to cart: the cart, then checkout or abandonment, then exit."""
            append, pool = steps.append, popular
            buys = draw() >= config.cart_abandonment
            prices, total = self.prices, 0
            cart: dict[int, int] = {}
            for _ in range(items[bits(BITS)]):
                if draw() < _BROWSE_BEFORE_ADD:
                    ms, pool = browse(before_add, steps, ms, pool, session, registered)
                product = pool[bits(BITS)]
                ms += gaps[VIEW][bits(BITS)]
                append((ms, view_heads[len(steps)], viewed[product], session))
                if registered and draw() < wish_share:
                    ms += wish_gaps[bits(BITS)]
                    append((ms, wish_heads[len(steps)], viewed[product], session))
                quantity = self.quantities[bits(BITS)]
                cart[product] = cart.get(product, 0) + quantity
                total += prices[product] * quantity
                ms += gaps[ADD][bits(BITS)]
                append((ms, heads[ADD][len(steps)], cart_body(product, quantity, total), session))

            if draw() < config.update_quantity_share:
                product = list(cart)[bits(BITS) % len(cart)]
                quantity = cart[product] % 3 + 1  # always a different quantity, 1..3
                total += prices[product] * (quantity - cart[product])
                cart[product] = quantity
                ms += gaps[UPDATE][bits(BITS)]
                body = cart_body(product, quantity, total)
                append((ms, heads[UPDATE][len(steps)], body, session))
            if draw() < config.remove_share and (len(cart) > 1 or not buys):
                product = list(cart)[bits(BITS) % len(cart)]
                quantity = cart.pop(product)
                total -= prices[product] * quantity
                ms += gaps[REMOVE][bits(BITS)]
                body = cart_body(product, quantity, total)
                append((ms, heads[REMOVE][len(steps)], body, session))

            stage = 4 if buys else self.stages[bits(BITS)]
            if not cart or stage == 0:
                ms, pool = browse(before_add, steps, ms, pool, session, registered)
            else:
                ms += gaps[CHECKOUT][bits(BITS)]
                append((ms, heads[CHECKOUT][len(steps)], checkout(total), session))
                if stage >= 2:
                    ms += gaps[SHIPPING][bits(BITS)]
                    append((ms, heads[SHIPPING][len(steps)], checkout(total), session))
                if stage >= 3:
                    payment = self.payments[bits(BITS)]
                    ms += gaps[PAYMENT][bits(BITS)]
                    append((ms, heads[PAYMENT][len(steps)], checkout(total, payment), session))
                    if stage == 3:
                        if draw() < config.abandon_payment_failure:
                            ms += gaps[FAILED][bits(BITS)]
                            body = checkout(total, payment)
                            append((ms, heads[FAILED][len(steps)], body, session))
                    else:
                        for _ in range(self.retries[bits(BITS)]):
                            ms += gaps[FAILED][bits(BITS)]
                            body = checkout(total, payment)
                            append((ms, heads[FAILED][len(steps)], body, session))
                            payment = self.payments[bits(BITS)]
                            ms += gaps[PAYMENT][bits(BITS)]
                            body = checkout(total, payment)
                            append((ms, heads[PAYMENT][len(steps)], body, session))
                        order = encoder.order_id(session)
                        ms += gaps[PURCHASE][bits(BITS)]
                        body = checkout(total, payment, order)
                        append((ms, heads[PURCHASE][len(steps)], body, session))
                        if draw() < config.cancel_share:
                            ms += gaps[CANCELLED][bits(BITS)]
                            body = checkout(total, payment, order)
                            append((ms, heads[CANCELLED][len(steps)], body, session))
            append((ms + exit_gaps[bits(BITS)], exit_heads[len(steps)], bare, session))
            return steps

        return journey
