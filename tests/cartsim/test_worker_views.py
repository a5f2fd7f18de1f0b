from __future__ import annotations

import pytest
from pydantic import ValidationError

from cartsim.worker_views import (
    MAX_WINDOW_MS,
    FunnelCounts,
    PartitionTotals,
    ProductCounters,
    TotalsAnswer,
    WindowQuery,
    total_counters,
)


def test_a_window_is_at_most_the_cap_long() -> None:
    assert WindowQuery(start_ms=5, end_ms=5 + MAX_WINDOW_MS).end_ms == 5 + MAX_WINDOW_MS
    with pytest.raises(ValidationError, match="at most 32 days"):
        WindowQuery(start_ms=5, end_ms=6 + MAX_WINDOW_MS)
    with pytest.raises(ValidationError, match="start_ms"):
        WindowQuery.model_validate({"start_ms": "yesterday", "end_ms": "0"})


def test_a_longer_range_is_asked_for_its_end() -> None:
    assert WindowQuery.ending(0, 3 * MAX_WINDOW_MS) == WindowQuery(
        start_ms=2 * MAX_WINDOW_MS, end_ms=3 * MAX_WINDOW_MS
    )
    assert WindowQuery.ending(10, 20) == WindowQuery(start_ms=10, end_ms=20)


def test_counters_of_partitions_add_up_field_by_field() -> None:
    one = ProductCounters(views=1, adds=0, removes=0, units_purchased=2, revenue_vnd=5)
    two = ProductCounters(views=2, adds=1, removes=1, units_purchased=0, revenue_vnd=0)
    assert total_counters([one, two]) == ProductCounters(
        views=3, adds=1, removes=1, units_purchased=2, revenue_vnd=5
    )
    assert FunnelCounts.total([]) == FunnelCounts()
    assert FunnelCounts.total([FunnelCounts(session=2, viewed=1)] * 2).session == 4


def test_totals_keep_their_product_ids_and_named_counters_through_json() -> None:
    totals = PartitionTotals(
        log="0dd0feed",
        partition=1,
        offset=9,
        clock_ms=1,
        events=10,
        event_types={"view_item": 10},
        sources={},
        devices={},
        browsers={},
        funnel=FunnelCounts(session=1, viewed=1),
        products={
            42: ProductCounters(views=10, adds=0, removes=0, units_purchased=0, revenue_vnd=0)
        },
        revenue_vnd=0,
        orders=0,
        cancelled_orders=0,
        cancelled_vnd=0,
        abandoned_carts=0,
    )
    answer = TotalsAnswer(updated_ms=2, partitions=[totals])
    body = answer.model_dump_json()
    assert '"products":{"42":{"views":10,"adds":0' in body
    assert TotalsAnswer.model_validate_json(body) == answer
