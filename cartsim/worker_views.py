"""What a stream worker serves the API over HTTP, and the heartbeat by which the API finds it.

A worker owns some partitions of the events topic and keeps their tables; it also serves the
tables it rebuilt from the files of earlier Kafka logs. It answers on its Faust web server under
`ViewPath`, every answer one of the models below, built by the worker and parsed by the API.
Each partition is named by (log, partition) with the offset its totals reached, so a reader
asking several workers keeps, per (log, partition), the answer that went furthest: a partition
moving between workers, or history that every worker serves, counts once.

The worker builds its answers with `model_construct` from values it already holds in this
shape, so nothing is validated twice; the API validates them from the JSON bytes, and the tests
check that the worker's answers validate as these models and round-trip unchanged. Thousands of
small records (a product's counters, a cart and its lines) are columns or typed dicts rather
than models, which pydantic would build one object at a time.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any, Self, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
#: The longest range /cartsim/window sums at a time, so one request reads a bounded number of
#: minute windows (46,080); the API asks for the end of a longer range.
MAX_WINDOW_MS = 32 * 24 * 60 * MINUTE_MS
#: The most carts /cartsim/abandoned returns at a time.
MAX_ABANDONED = 1000

M = TypeVar("M", bound=BaseModel)


def encode_answer(answer: BaseModel) -> bytes:
    """An answer's JSON as pydantic writes it, by orjson with each model as its fields: two to
    four times as fast as pydantic's serializer on these answers (the tests hold the two equal).
    """
    return orjson.dumps(answer, default=vars, option=orjson.OPT_NON_STR_KEYS)


def decode_answer(model: type[M], body: bytes) -> M:
    """An answer parsed and validated from its JSON, in strict mode: the worker writes exactly
    these types, so a value that would need coercing is a defect, not an input to convert."""
    return model.model_validate_json(body, strict=True)


class ViewPath(StrEnum):
    """The worker's views, below its advertised URL."""

    TOTALS = "/cartsim/state"
    WINDOW = "/cartsim/window"
    ABANDONED = "/cartsim/abandoned"
    REPLACE = "/cartsim/replace"


class Heartbeat(BaseModel):
    """A worker process is alive: the file it rewrites every second under `workers_dir`."""

    model_config = ConfigDict(frozen=True)

    url: str = Field(
        description="Advertised base URL of the worker's views, as other processes reach it "
        "(CARTSIM_WORKER_ADVERTISED_URL), which may differ from the address it binds."
    )
    pid: int = Field(description="Process id; with the app id it names the heartbeat file.")
    partitions: list[int] = Field(description="Partitions of the events topic it owns now.")
    beat_unix_s: float = Field(
        default_factory=time.time, description="When it was written (wall clock, seconds)."
    )


class FunnelCounts(BaseModel):
    """Sessions that reached each stage at least once."""

    session: int = Field(default=0, description="Sessions with any event.")
    viewed: int = Field(default=0, description="... with a view_item.")
    added: int = Field(default=0, description="... with an add_to_cart.")
    checkout: int = Field(default=0, description="... with a begin_checkout.")
    purchased: int = Field(default=0, description="... with a purchase.")

    @classmethod
    def total(cls, funnels: Iterable[FunnelCounts]) -> FunnelCounts:
        """The funnel of partitions together (a session belongs to one partition)."""
        return _summed(cls, funnels)


class ProductCounters(TypedDict):
    """What happened to one product, by the names the API ranks products by."""

    views: Annotated[int, Field(description="view_item events.")]
    adds: Annotated[int, Field(description="add_to_cart events.")]
    removes: Annotated[int, Field(description="remove_from_cart events.")]
    units_purchased: Annotated[int, Field(description="Units in purchased carts.")]
    revenue_vnd: Annotated[int, Field(description="Price x units in purchased carts.")]


#: The names of a product's counters, in their declared order.
PRODUCT_COUNTERS: tuple[str, ...] = tuple(ProductCounters.__annotations__)


class ProductColumns(BaseModel):
    """Every product's `ProductCounters` as columns: entry i of each list is for product
    `product_id[i]`. Columns rather than an object per product: a partition counts hundreds of
    products, and their names repeated per product made the totals three times the size and
    their parse three times as slow."""

    product_id: list[int] = Field(default_factory=list)
    views: list[int] = Field(default_factory=list)
    adds: list[int] = Field(default_factory=list)
    removes: list[int] = Field(default_factory=list)
    units_purchased: list[int] = Field(default_factory=list)
    revenue_vnd: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _aligned(self) -> Self:
        products = len(self.product_id)
        if any(len(getattr(self, name)) != products for name in PRODUCT_COUNTERS):
            raise ValueError("every column holds one entry per product_id")
        return self

    @classmethod
    def total(cls, tables: Iterable[ProductColumns]) -> ProductColumns:
        """The counters of partitions together: one row per product, in product id order."""
        sums: dict[str, dict[int, int]] = {name: {} for name in PRODUCT_COUNTERS}
        for table in tables:
            for name, column in sums.items():
                get = column.get
                for product, count in zip(table.product_id, getattr(table, name), strict=True):
                    column[product] = get(product, 0) + count
        ids = sorted(sums[PRODUCT_COUNTERS[0]])
        columns: dict[str, Any] = {name: [c[p] for p in ids] for name, c in sums.items()}
        return cls.model_construct(product_id=ids, **columns)

    def counters(self, row: int) -> ProductCounters:
        """The counters of product `product_id[row]`."""
        return ProductCounters(
            views=self.views[row],
            adds=self.adds[row],
            removes=self.removes[row],
            units_purchased=self.units_purchased[row],
            revenue_vnd=self.revenue_vnd[row],
        )


def _summed(model: type[M], values: Iterable[M]) -> M:
    """Field-wise sum of models whose fields are all counts."""
    sums = dict.fromkeys(model.model_fields, 0)
    for value in values:
        for name in sums:
            sums[name] += getattr(value, name)
    return model.model_validate(sums)


class PartitionTotals(BaseModel):
    """Running totals of one partition of one log, since its first event or its last replace."""

    log: str = Field(description="The Kafka log (cluster and topic) the offsets belong to.")
    partition: int
    offset: int = Field(description="Offset of the last event counted; -1 before any.")
    clock_ms: int = Field(description="Newest event time seen: the partition's 'now'.")
    events: int
    event_types: dict[str, int] = Field(description="Events by event_type.")
    sources: dict[str, int] = Field(description="Events by source.")
    devices: dict[str, int] = Field(description="Events by device.")
    browsers: dict[str, int] = Field(description="Events by browser.")
    funnel: FunnelCounts
    products: ProductColumns
    revenue_vnd: int = Field(description="Sum of purchases' cart totals.")
    orders: int = Field(description="purchase events.")
    cancelled_orders: int = Field(description="order_cancelled events.")
    cancelled_vnd: int = Field(description="Sum of cancelled orders' cart totals.")
    dead_letters: int = Field(
        default=0, description="Records that are not cart events (dead-lettered)."
    )
    duplicates: int = Field(default=0, description="Repeated event ids, applied once.")
    too_late: int = Field(
        default=0, description="Events older than the allowed lateness: not counted."
    )
    abandoned_carts: int = Field(description="Carts in the partition's abandoned table now.")


class TotalsAnswer(BaseModel):
    """GET `ViewPath.TOTALS`: the totals of every partition the worker serves."""

    updated_ms: int = Field(description="When the worker answered (wall clock).")
    partitions: list[PartitionTotals]


class WindowQuery(BaseModel):
    """The query of `ViewPath.WINDOW`: the minute windows that overlap [start_ms, end_ms)."""

    start_ms: int = Field(description="Event time, inclusive.")
    end_ms: int = Field(description="Event time, exclusive.")

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.end_ms - self.start_ms > MAX_WINDOW_MS:
            raise ValueError(f"at most {MAX_WINDOW_MS // 86_400_000} days of minutes at a time")
        return self

    @classmethod
    def ending(cls, start_ms: int, end_ms: int) -> WindowQuery:
        """[start_ms, end_ms), shortened at the start to what one request may ask."""
        return cls(start_ms=max(start_ms, end_ms - MAX_WINDOW_MS), end_ms=end_ms)


class PartitionWindow(BaseModel):
    """One partition's events in a range."""

    log: str
    partition: int
    offset: int = Field(description="Offset the partition's totals reached.")
    event_types: dict[str, int] = Field(description="Events by type; a type with none is left out.")


class WindowAnswer(BaseModel):
    """GET `ViewPath.WINDOW`: events by type in the range, summed per partition by the worker,
    so the answer stays small however long the range."""

    partitions: list[PartitionWindow]


class AbandonedQuery(BaseModel):
    """The query of `ViewPath.ABANDONED`."""

    limit: int = Field(default=50, ge=1, le=MAX_ABANDONED, description="Carts to return.")
    idle_before_ms: int = Field(
        default=0, description="Only carts last active at or before this event time."
    )


class CartLine(TypedDict):
    """One product in a cart."""

    product_id: int
    product_name: str | None
    product_price_vnd: int
    quantity: int
    line_total_vnd: Annotated[int, Field(description="product_price_vnd x quantity.")]


class AbandonedEntry(TypedDict):
    """An abandoned cart: what a remarketing mailer needs, and where it was counted. Typed
    dicts, for the carts and their lines: an answer holds up to `MAX_ABANDONED` carts, which
    pydantic validates several times as fast as models, and the worker builds as plain dicts."""

    log: str
    partition: int
    partition_offset: Annotated[int, Field(description="Offset the partition's totals reached.")]
    session_id: str
    customer_id: Annotated[int | None, Field(description="Null for a guest.")]
    is_guest: bool
    city: str | None
    cart: list[CartLine]
    cart_value_vnd: Annotated[int, Field(description="Sum of the lines' totals.")]
    checkout_stage: Annotated[
        str, Field(description="browsing, checkout, shipping, payment, purchased or cancelled.")
    ]
    first_activity_unix: Annotated[
        int, Field(description="Event time of the session's first event, ms.")
    ]
    last_activity: Annotated[str, Field(description="ISO 8601 time of the session's last event.")]
    last_activity_unix: Annotated[int, Field(description="The same, ms since the epoch.")]
    abandoned_at_unix: Annotated[
        int, Field(description="The partition's clock when it was abandoned.")
    ]


class AbandonedAnswer(BaseModel):
    """GET `ViewPath.ABANDONED`: the `limit` most valuable carts idle long enough, most
    valuable first."""

    items: list[AbandonedEntry]


class ReplaceRequest(BaseModel):
    """POST `ViewPath.REPLACE`: clear the worker's partitions below these offsets."""

    high_watermarks: dict[int, int] = Field(
        description="Per partition, the topic's high watermark before new events were sent."
    )


class ReplaceAnswer(BaseModel):
    """Per partition the worker cleared, the offset its files and tables start from now."""

    floors: dict[int, int]
