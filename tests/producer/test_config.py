"""The calibrated defaults of JourneyConfig hold on a stream of 150,000 events."""

from __future__ import annotations

from collections import Counter
from statistics import mean, median
from typing import Any

from cartsim.producer.config import JourneyConfig

Session = list[dict[str, Any]]


def kinds(session: Session) -> set[str]:
    return {e["event_type"] for e in session}


def test_about_70_percent_of_carts_are_abandoned(sessions: dict[str, Session]) -> None:
    carts = [s for s in sessions.values() if "add_to_cart" in kinds(s)]
    abandoned = sum("purchase" not in kinds(s) for s in carts) / len(carts)
    assert len(carts) > 1_500
    assert abs(abandoned - JourneyConfig().cart_abandonment) < 0.035, abandoned


def test_about_30_percent_of_sessions_are_guests(sessions: dict[str, Session]) -> None:
    guests = sum(s[0]["is_guest"] for s in sessions.values()) / len(sessions)
    assert abs(guests - 0.30) < 0.02, guests


def test_traffic_is_mobile_heavy(sessions: dict[str, Session]) -> None:
    devices = Counter(s[0]["device"] for s in sessions.values())
    sources = Counter(s[0]["source"] for s in sessions.values())
    browsers = Counter(s[0]["browser"] for s in sessions.values())
    total = len(sessions)
    assert devices["mobile"] / total > 0.6 and devices["desktop"] / total > 0.15
    assert set(sources) == {"website", "mobile_app", "mobile_web"}
    assert {"Chrome", "Safari", "Cốc Cốc"} <= set(browsers)
    website = [s[0] for s in sessions.values() if s[0]["source"] == "website"]
    assert all(e["device"] != "mobile" for e in website)


def test_sessions_have_realistic_lengths(sessions: dict[str, Session]) -> None:
    lengths = [len(s) for s in sessions.values()]
    minutes = [
        (s[-1]["timestamp_unix"] - s[0]["timestamp_unix"]) / 60_000 for s in sessions.values()
    ]
    assert 5 <= mean(lengths) <= 12 and 3 <= median(lengths) <= 10
    assert 2 <= mean(minutes) <= 8
    assert max(lengths) < 200


def test_some_sessions_reach_each_part_of_the_funnel(sessions: dict[str, Session]) -> None:
    seen = Counter(kind for s in sessions.values() for kind in kinds(s))
    total = len(sessions)
    assert 0.10 < seen["add_to_cart"] / total < 0.14
    assert seen["payment_failed"] > 0 and seen["order_cancelled"] > 0
    assert seen["add_to_wish_list"] > 0 and seen["search"] > 0
    assert seen["remove_from_cart"] > 0 and seen["update_quantity"] > 0
