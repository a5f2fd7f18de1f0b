"""The producer's hand-made byte templates give records of exactly the `CartEvent` model.

Every body template (viewed, searched, bare, cart line, checkout with and without payment and
order) is joined with every head and both kinds of visitor, so a template that drifts from the
model (a field renamed, moved, typed or made null differently) fails here whatever the
simulator's chances of reaching it.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from cartsim.events import EVENT_FIELDS, EVENT_TYPES, PAYMENT_METHODS, CartEvent
from cartsim.producer.catalog import Product
from cartsim.producer.customers import Customer
from cartsim.producer.platforms import PLATFORMS
from cartsim.producer.records import RecordEncoder, Step, Visitors

PRODUCTS = (
    Product(7, 'Laptop "Gaming" 15.6\\ Nitro', "Laptop", "Acer", 25_990_000),
    Product(8, "Tai nghe không dây", "Âm thanh", "Sony", 149_000),
)
QUERIES = ("laptop gaming", 'tai nghe "chống ồn"')
MEMBERS = (Customer(42, "Nguyễn Văn A", "Hà Nội", "1 Phố Huế, Hà Nội"),)
GUESTS = (Customer(None, "Trần Thị B", "Đà Nẵng", "2 Bạch Đằng, Đà Nẵng"),)
LOW_MS = 1_731_337_200_000  # 2024-11-11 22:00 in Vietnam, two hours before a local midnight


def every_template() -> list[tuple[bytes, bytes]]:
    """Each head with each body, for a member and a guest, across a local midnight."""
    encoder = RecordEncoder(PRODUCTS, QUERIES, PAYMENT_METHODS)
    visitors = Visitors(MEMBERS, GUESTS, PLATFORMS)
    bits = random.Random(5).getrandbits
    sessions = [
        visitors.session(bits, guest, b"%016x" % n) for n, guest in enumerate((False, True))
    ]
    total = 2 * PRODUCTS[0].price_vnd
    bodies = [
        *encoder.viewed,
        *encoder.searched,
        encoder.bare,
        encoder.cart(0, 2, total),
        encoder.checkout(total),
        encoder.checkout(total, payment=len(PAYMENT_METHODS) - 1),
        *(encoder.checkout(total, 0, encoder.order_id(session)) for session in sessions),
    ]
    heads = encoder.heads_up_to(3)
    steps: list[Step] = [
        (ms, kind[number], body, session)
        for ms, number in ((0, 0), (3 * 3_600_000, 2))  # the second one on the next local day
        for kind in heads
        for body in bodies
        for session in sessions
    ]
    steps.sort(key=lambda step: step[0])
    return encoder.encode(steps, LOW_MS)


@pytest.fixture(scope="module")
def records() -> list[tuple[bytes, bytes]]:
    return every_template()


@pytest.fixture(scope="module")
def events(records: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    return [orjson.loads(value) for _, value in records]


def test_every_record_has_the_model_fields_in_model_order(events: list[dict[str, Any]]) -> None:
    names = [field.name for field in EVENT_FIELDS]
    assert all(list(event) == names for event in events)


def test_every_record_is_a_cart_event_with_exact_json_types(
    records: list[tuple[bytes, bytes]],
) -> None:
    """Strict: no number in quotes, no 0 for false; null only where the model allows it."""
    for key, value in records:
        event = CartEvent.model_validate_json(value, strict=True)
        assert key == event.session_id.encode()
        assert int(event.timestamp.timestamp() * 1000) == event.timestamp_unix
        assert event.timestamp.utcoffset() is not None


def test_some_template_gives_each_field_a_value(events: list[dict[str, Any]]) -> None:
    """So the strict check above has seen a value of each field's type, not only nulls."""
    for field in EVENT_FIELDS:
        assert any(event[field.name] is not None for event in events), field.name


def test_heads_cover_every_event_type(events: list[dict[str, Any]]) -> None:
    assert {event["event_type"] for event in events} == set(EVENT_TYPES)
