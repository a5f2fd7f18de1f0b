"""Journeys are consistent with a real cart, on a stream of 150,000 events."""

from __future__ import annotations

from itertools import islice
from typing import Any

import orjson
import pytest

from cartsim.events import PUBLIC_FIELDS, CartEvent
from cartsim.producer.catalog import Product
from cartsim.producer.journeys import backfill, batch, steady

Session = list[dict[str, Any]]
CHECKOUT_ORDER = ("begin_checkout", "add_shipping_info", "add_payment_info")


def replay_cart(session: Session) -> None:
    """Walk one session's events and assert every cart rule on the way."""
    cart: dict[int, tuple[int, int]] = {}  # product id -> (price, quantity)
    purchased = False
    stage = -1  # index in CHECKOUT_ORDER reached so far
    for event in session:
        kind = event["event_type"]
        product, quantity = event["product_id"], event["quantity"]
        assert not purchased or kind in ("order_cancelled", "exit_page", "view_item", "scroll")
        if kind == "add_to_cart":
            price, held = cart.get(product, (event["product_price_vnd"], 0))
            cart[product] = (price, held + quantity)
        elif kind == "update_quantity":
            assert product in cart, "update_quantity of a product not in the cart"
            cart[product] = (cart[product][0], quantity)
        elif kind == "remove_from_cart":
            assert product in cart, "remove_from_cart of a product not in the cart"
            assert quantity == cart.pop(product)[1]
        elif kind in CHECKOUT_ORDER:
            assert cart, f"{kind} with an empty cart"
            position = CHECKOUT_ORDER.index(kind)
            retry = kind == "add_payment_info" and stage == 2
            assert position == stage + 1 or retry, f"{kind} out of order"
            stage = position
        elif kind in ("purchase", "payment_failed"):
            assert stage == 2, f"{kind} before add_payment_info"
            assert event["payment_method"] is not None
            purchased = kind == "purchase"
            if purchased:
                assert event["order_id"]
        elif kind == "order_cancelled":
            assert purchased, "order_cancelled without a purchase"
        if event["cart_total_vnd"] is not None:
            assert event["cart_total_vnd"] == sum(p * q for p, q in cart.values())
    assert session[-1]["event_type"] == "exit_page"
    assert [e["event_type"] for e in session].count("exit_page") == 1


def test_every_session_follows_the_cart_rules(sessions: dict[str, Session]) -> None:
    assert len(sessions) > 10_000
    for session in sessions.values():
        replay_cart(session)


def test_a_purchase_totals_the_cart(sessions: dict[str, Session]) -> None:
    purchases = [e for s in sessions.values() for e in s if e["event_type"] == "purchase"]
    assert len(purchases) > 200
    assert all(e["cart_total_vnd"] > 0 for e in purchases)  # replay_cart checks the sum


def test_quantities_and_line_totals(stream: list[dict[str, Any]]) -> None:
    for event in stream:
        if event["quantity"] is not None:
            assert event["quantity"] >= 1
            assert event["line_total_vnd"] == event["product_price_vnd"] * event["quantity"]
        else:
            assert event["line_total_vnd"] is None


def test_every_event_has_every_field_public_ones_first(stream: list[dict[str, Any]]) -> None:
    fields = list(CartEvent.model_fields)
    assert fields[: len(PUBLIC_FIELDS)] == list(PUBLIC_FIELDS)
    for event in stream:
        assert list(event) == fields


def test_events_validate_against_the_model(stream: list[dict[str, Any]]) -> None:
    for event in stream[::10]:
        CartEvent.model_validate(event)


def test_event_ids_are_unique(stream: list[dict[str, Any]]) -> None:
    assert len({e["event_id"] for e in stream}) == len(stream)


def test_sessions_keep_their_identity(sessions: dict[str, Session]) -> None:
    for session in islice(sessions.values(), 2_000):
        keys = {
            (e["customer_id"], e["is_guest"], e["device"], e["browser"], e["city"]) for e in session
        }
        assert len(keys) == 1
        customer, guest = session[0]["customer_id"], session[0]["is_guest"]
        assert guest == (customer is None)
        if guest:
            assert all(e["event_type"] != "add_to_wish_list" for e in session)


def test_the_stream_is_in_time_order(stream: list[dict[str, Any]]) -> None:
    stamps = [e["timestamp_unix"] for e in stream]
    assert stamps == sorted(stamps)


def test_timestamps_are_vietnam_time_and_match_the_milliseconds(
    stream: list[dict[str, Any]],
) -> None:
    from datetime import datetime

    for event in stream[::97]:
        moment = datetime.fromisoformat(event["timestamp"])
        assert event["timestamp"].endswith("+07:00")
        assert round(moment.timestamp() * 1000) == event["timestamp_unix"]


def test_products_come_from_the_catalog(
    stream: list[dict[str, Any]], products: tuple[Product, ...]
) -> None:
    by_id = {p.id: p for p in products}
    for event in stream[::7]:
        if event["product_id"] is not None:
            product = by_id[event["product_id"]]
            assert (event["product_name"], event["product_price_vnd"]) == (
                product.name,
                product.price_vnd,
            )
            assert (event["category"], event["brand"]) == (product.category, product.brand)


def test_a_seed_gives_byte_identical_backfills(
    products: tuple[Product, ...], raw_stream: list[tuple[bytes, bytes]]
) -> None:
    from tests.producer.conftest import COUNT, END, SEED, START

    again = list(backfill(SEED, START, END, COUNT, products))
    assert again == raw_stream
    other = list(islice(backfill(SEED + 1, START, END, COUNT, products), 1_000))
    assert other != raw_stream[:1_000]


def test_a_backfill_shorter_than_a_session_stays_in_range(products: tuple[Product, ...]) -> None:
    from datetime import datetime, timedelta

    from cartsim.moments import VIETNAM

    start = datetime(2024, 11, 11, 20, tzinfo=VIETNAM)
    for seconds in (1, 30):
        end = start + timedelta(seconds=seconds)
        stamps = [
            orjson.loads(value)["timestamp_unix"]
            for _, value in backfill(5, start, end, 300, products)
        ]
        assert len(stamps) == 300 and stamps == sorted(stamps)
        assert start.timestamp() * 1000 <= stamps[0] and stamps[-1] < end.timestamp() * 1000


@pytest.mark.parametrize("seed", [1, 2])
def test_steady_mode_differs_only_in_timestamps_from_another_now(
    seed: int, products: tuple[Product, ...]
) -> None:
    def strip(value: bytes) -> dict[str, Any]:
        event = orjson.loads(value)
        return {k: v for k, v in event.items() if k not in ("timestamp", "timestamp_unix")}

    early = list(islice(steady(seed, 500.0, products, now_ms=1_700_000_000_000), 3_000))
    late = list(islice(steady(seed, 500.0, products, now_ms=1_800_000_000_123), 3_000))
    assert [strip(v) for _, v in early] == [strip(v) for _, v in late]
    shift = orjson.loads(late[0][1])["timestamp_unix"] - orjson.loads(early[0][1])["timestamp_unix"]
    assert shift == 100_000_000_123


def test_a_batch_ends_at_now_and_differs_only_in_timestamps(
    products: tuple[Product, ...],
) -> None:
    def strip(value: bytes) -> dict[str, Any]:
        event = orjson.loads(value)
        return {k: v for k, v in event.items() if k not in ("timestamp", "timestamp_unix")}

    now = 1_750_000_000_000
    first = list(batch(6, 20_000, products, now_ms=now))
    again = list(batch(6, 20_000, products, now_ms=now + 86_400_123))
    stamps = [orjson.loads(value)["timestamp_unix"] for _, value in first]
    assert len(first) == 20_000 and stamps == sorted(stamps)
    assert now - 15 * 60_000 <= stamps[0] and stamps[-1] < now  # never in the future
    assert [strip(v) for _, v in first] == [strip(v) for _, v in again]
    assert orjson.loads(again[0][1])["timestamp_unix"] - stamps[0] == 86_400_123


def test_timestamps_stay_right_across_local_midnight(products: tuple[Product, ...]) -> None:
    from datetime import datetime

    from cartsim.moments import VIETNAM

    before_midnight = int(datetime(2024, 11, 11, 23, 55, tzinfo=VIETNAM).timestamp() * 1000)
    days = set()
    for _, value in islice(steady(8, 5.0, products, now_ms=before_midnight), 4_000):
        event = orjson.loads(value)
        moment = datetime.fromisoformat(event["timestamp"])
        assert round(moment.timestamp() * 1000) == event["timestamp_unix"]
        days.add(moment.date().day)
    assert days == {11, 12}


def test_steady_mode_starts_now(products: tuple[Product, ...]) -> None:
    now = 1_750_000_000_000
    first = [
        orjson.loads(v)["timestamp_unix"]
        for _, v in islice(steady(3, 50.0, products, now_ms=now), 500)
    ]
    assert now <= first[0] < now + 1_000
    assert first == sorted(first)
    assert first[-1] - first[0] == pytest.approx(500 / 50 * 1000, rel=0.5)
