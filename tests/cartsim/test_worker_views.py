from __future__ import annotations

import pytest
from pydantic import ValidationError

from cartsim.worker_views import (
    MAX_WINDOW_MS,
    PRODUCT_COUNTERS,
    FunnelCounts,
    PartitionTotals,
    ProductColumns,
    ProductCounters,
    ReplaceAnswer,
    TotalsAnswer,
    WindowQuery,
    encode_answer,
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


def test_product_columns_are_the_named_counters_and_add_up_by_product() -> None:
    assert tuple(ProductColumns.model_fields) == ("product_id", *PRODUCT_COUNTERS)
    one = ProductColumns(
        product_id=[7, 9], views=[1, 4], adds=[0, 1], removes=[0, 0], units_purchased=[2, 0],
        revenue_vnd=[5, 0],
    )  # fmt: skip
    two = ProductColumns(
        product_id=[7], views=[2], adds=[1], removes=[1], units_purchased=[0], revenue_vnd=[0]
    )
    summed = ProductColumns.total([two, one])
    assert summed == ProductColumns(
        product_id=[7, 9], views=[3, 4], adds=[1, 1], removes=[1, 0], units_purchased=[2, 0],
        revenue_vnd=[5, 0],
    )  # fmt: skip
    assert summed.counters(1) == ProductCounters(
        views=4, adds=1, removes=0, units_purchased=0, revenue_vnd=0
    )
    assert ProductColumns.total([ProductColumns()]) == ProductColumns()
    with pytest.raises(ValidationError, match="one entry per product_id"):
        ProductColumns(product_id=[7], views=[1, 2])
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
        products=ProductColumns(
            product_id=[42], views=[10], adds=[0], removes=[0], units_purchased=[0], revenue_vnd=[0]
        ),
        revenue_vnd=0,
        orders=0,
        cancelled_orders=0,
        cancelled_vnd=0,
        abandoned_carts=0,
    )
    answer = TotalsAnswer(updated_ms=2, partitions=[totals])
    body = answer.model_dump_json()
    assert '"products":{"product_id":[42],"views":[10],"adds":[0]' in body
    assert TotalsAnswer.model_validate_json(body) == answer


def test_an_answer_s_json_is_the_one_pydantic_writes() -> None:
    for answer in (ReplaceAnswer(floors={3: 7}), TotalsAnswer(updated_ms=1, partitions=[])):
        assert encode_answer(answer) == answer.model_dump_json().encode()
