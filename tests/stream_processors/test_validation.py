"""The worker's check: every malformed kind the producer injects is refused with a reason."""

from __future__ import annotations

import random

import orjson

from cartsim.producer.faults import MALFORMED_KINDS, corrupt
from cartsim.stream_processors.validation import check

EVENT = orjson.dumps(
    {
        "event_id": "evt_1", "event_type": "add_to_cart", "timestamp": "2026-01-01T00:00:00+07:00",
        "timestamp_unix": 1767200400000, "session_id": "sess_1", "customer_id": None,
        "is_guest": True, "source": "website", "device": "mobile", "browser": "Chrome",
        "product_id": 3, "product_name": "Phone", "product_price_vnd": 100, "quantity": 2,
        "line_total_vnd": 200, "cart_total_vnd": 200,
    }
)  # fmt: skip


def test_a_cart_event_passes() -> None:
    assert check(EVENT, 64 * 1024) == (orjson.loads(EVENT), None)


def test_every_injected_kind_is_refused_with_its_reason() -> None:
    rng = random.Random(1)
    for kind in MALFORMED_KINDS:
        for _ in range(20):
            event, reason = check(corrupt(EVENT, kind, rng), 64 * 1024)
            assert event is None and reason, kind
    assert check(b"[1]", 1024)[1] == "not a JSON object but list"
    assert check(EVENT.replace(b'"quantity":2', b'"quantity":true'), 1024)[1] == (
        "quantity is bool, not int or null"
    )
