"""The journey model's parameters: every calibrated number in one frozen, documented place.

Sources for the defaults:
- cart abandonment 70.19%: Baymard Institute, average of 49 studies (baymard.com/lists/
  cart-abandonment-rate): carts that were filled but never ordered, as a share of all carts;
- sessions that add to cart, 12%: published add-to-cart rates mostly fall between 5% and 13%;
  electronics shoppers compare more, so this sits high in that band;
- guests 30%: the share of guest sessions in the TechStore cart tracking that users know; a
  minority check out as guests where accounts carry vouchers;
- payment methods: cash on delivery is still commonly reported as Vietnam's first method, with
  e-wallets (MoMo, ZaloPay, VNPay) next and cards and bank transfers after them;
- dwell times between events: medians of a few to tens of seconds, log-normal spread, giving
  sessions of 7.5 events and 2.5 minutes on average (e-commerce sessions: 5-7 pages, minutes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Median seconds before an event of each type, measured from the session's previous event.
DWELL_S: dict[str, float] = {
    "view_item": 22.0,
    "search": 9.0,
    "scroll": 7.0,
    "add_to_cart": 14.0,
    "remove_from_cart": 12.0,
    "update_quantity": 8.0,
    "add_to_wish_list": 6.0,
    "begin_checkout": 18.0,
    "add_shipping_info": 50.0,
    "add_payment_info": 35.0,
    "purchase": 12.0,
    "payment_failed": 15.0,
    "order_cancelled": 150.0,
    "exit_page": 12.0,
}


@dataclass(frozen=True)
class JourneyConfig:
    """How simulated TechStore shoppers behave; the defaults are the calibrated model."""

    guest_share: float = 0.30
    cart_session_share: float = 0.12
    cart_abandonment: float = 0.7019
    #: Mean browsing events (view_item, search, scroll) of a session that never adds to cart.
    mean_browse_events: float = 6.0
    #: Mean browsing events before each add to cart.
    mean_browse_before_add: float = 2.5
    #: Chance, after each add, that the shopper adds another product.
    another_item_share: float = 0.30
    #: Weights of quantities 1, 2 and 3 on add_to_cart.
    quantity_weights: tuple[float, ...] = (88.0, 9.0, 3.0)
    update_quantity_share: float = 0.12
    remove_share: float = 0.15
    #: Chance a registered shopper wish-lists a product they view (guests have no wish list).
    wish_list_share: float = 0.06
    #: Chance that a view follows a search's category rather than the whole catalog's popularity.
    search_focus: float = 0.7
    #: Where abandoning carts stop: in the cart, after begin_checkout, after shipping, at payment.
    abandon_stage_weights: tuple[float, ...] = (55.0, 20.0, 10.0, 15.0)
    payment_failure_rate: float = 0.08
    #: Chance an abandoning shopper who gave payment info sees it fail before leaving.
    abandon_payment_failure: float = 0.5
    cancel_share: float = 0.04
    payment_weights: dict[str, float] = field(
        default_factory=lambda: {
            "cod": 35.0,
            "momo": 20.0,
            "zalopay": 10.0,
            "vnpay": 12.0,
            "bank_card": 10.0,
            "bank_transfer": 13.0,
        }
    )
    dwell_s: dict[str, float] = field(default_factory=lambda: dict(DWELL_S))
    #: Log-normal sigma of dwell times; 0.9 gives a long tail of slow readers.
    dwell_sigma: float = 0.9
    max_dwell_s: float = 900.0
    registered_customers: int = 10_000
    guest_profiles: int = 2_000
    #: Events per second of the shop in batch mode: `--count N` spans the last N / batch_rate
    #: seconds (at least 15 minutes) up to "now".
    batch_rate: float = 200.0
