"""The analytic Parquet tables `cartsim transform` writes, and the manifest beside them.

Both are read by other processes (BI tools, notebooks, a later `cartsim transform`), so their
shape is defined here once: the transformation writes exactly these columns in this order, and
the tests read the files back against them. Every table is partitioned Hive-style by
`event_date` (the Asia/Ho_Chi_Minh calendar day), one `part-0.parquet` per date folder:

    OUT/
    ├── _manifest.json
    ├── events/event_date=2024-11-11/part-0.parquet
    ├── sessions/event_date=.../part-0.parquet
    └── order_lines/ metrics_hourly/ metrics_daily/ products_daily/

Column types are DuckDB's names for the Parquet logical types written (BIGINT is INT64,
TIMESTAMPTZ is a UTC-adjusted TIMESTAMP in microseconds).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cartsim.events import DEVICES, EVENT_TYPES, SOURCES

#: Bumped whenever a table's columns or meaning change; an OUT of another version is refused.
SCHEMA_VERSION = 1
PARTITION_COLUMN = "event_date"
MANIFEST_NAME = "_manifest.json"

ColumnType = Literal["VARCHAR", "BIGINT", "DOUBLE", "BOOLEAN", "TIMESTAMPTZ"]
TableName = Literal[
    "events", "sessions", "order_lines", "metrics_hourly", "metrics_daily", "products_daily"
]


class Column(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    type: ColumnType
    description: str


class TableSchema(BaseModel):
    """One table: its columns in file order, and the key its rows are sorted and unique by."""

    model_config = ConfigDict(frozen=True)

    name: TableName
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


def _c(name: str, type: ColumnType, description: str) -> Column:
    return Column(name=name, type=type, description=description)


_EVENT_COLUMNS = (
    _c("event_id", "VARCHAR", "Unique id of the event (duplicates are dropped, first kept)."),
    _c("event_type", "VARCHAR", "One of the event types of the event contract."),
    _c("timestamp", "TIMESTAMPTZ", "The instant of the event (from timestamp_unix)."),
    _c("timestamp_unix", "BIGINT", "The same instant in milliseconds since the epoch."),
    _c("session_id", "VARCHAR", "Shopping session."),
    _c("customer_id", "BIGINT", "Registered customer; null for guests."),
    _c("is_guest", "BOOLEAN", "True for guest sessions."),
    _c("source", "VARCHAR", "website, mobile_app or mobile_web."),
    _c("device", "VARCHAR", "desktop, mobile or tablet."),
    _c("browser", "VARCHAR", "Browser or app."),
    _c("product_id", "BIGINT", "Null for events about no single product."),
    _c("product_name", "VARCHAR", ""),
    _c("product_price_vnd", "BIGINT", ""),
    _c("quantity", "BIGINT", ""),
    _c("line_total_vnd", "BIGINT", "product_price_vnd x quantity."),
    _c("category", "VARCHAR", ""),
    _c("brand", "VARCHAR", ""),
    _c("search_query", "VARCHAR", ""),
    _c("cart_total_vnd", "BIGINT", "Cart value after the event (checkout events: the order)."),
    _c("order_id", "VARCHAR", "Set on purchase and order_cancelled."),
    _c("payment_method", "VARCHAR", ""),
    _c("city", "VARCHAR", ""),
    _c("kafka_log", "VARCHAR", "Kafka log of the sink segment it came from; null from a file."),
    _c("kafka_partition", "BIGINT", "Partition of that segment; null from a file."),
)

_SESSION_COLUMNS = (
    _c("session_id", "VARCHAR", "The session; event_date is the day of its first event."),
    _c("customer_id", "BIGINT", "Null for guests."),
    _c("is_guest", "BOOLEAN", ""),
    _c("source", "VARCHAR", "Of the first event."),
    _c("device", "VARCHAR", "Of the first event."),
    _c("browser", "VARCHAR", "Of the first event."),
    _c("city", "VARCHAR", "Of the first event."),
    _c("first_event_at", "TIMESTAMPTZ", ""),
    _c("last_event_at", "TIMESTAMPTZ", ""),
    _c("duration_s", "DOUBLE", "last_event_at - first_event_at, in seconds."),
    _c("events", "BIGINT", "Events of the session."),
    _c("products_viewed", "BIGINT", "Distinct products of its view_item events."),
    _c("items_added", "BIGINT", "Units of its add_to_cart events."),
    _c("items_removed", "BIGINT", "Units of its remove_from_cart events."),
    _c(
        "furthest_stage",
        "VARCHAR",
        "session < viewed < added < checkout < shipping < payment < purchased.",
    ),
    _c("purchased", "BOOLEAN", "At least one purchase."),
    _c("orders", "BIGINT", "Purchase events."),
    _c("order_ids", "VARCHAR", "Its orders' ids, sorted, comma-separated; null if none."),
    _c("revenue_vnd", "BIGINT", "Sum of its purchases' cart_total_vnd."),
    _c("payment_method", "VARCHAR", "Of the last purchase, else of the last payment step."),
    _c("cart_value_vnd", "BIGINT", "Value of what is still in the cart after its last event."),
    _c("abandoned", "BOOLEAN", "The worker's rule: a cart, no purchase, idle past the threshold."),
)

_ORDER_LINE_COLUMNS = (
    _c("order_id", "VARCHAR", "event_date is the day of the purchase."),
    _c("session_id", "VARCHAR", ""),
    _c("customer_id", "BIGINT", ""),
    _c("purchased_at", "TIMESTAMPTZ", ""),
    _c("product_id", "BIGINT", ""),
    _c("product_name", "VARCHAR", ""),
    _c("category", "VARCHAR", ""),
    _c("brand", "VARCHAR", ""),
    _c("quantity", "BIGINT", "Units in the cart at the purchase."),
    _c("price_vnd", "BIGINT", "Unit price when the product was put in the cart."),
    _c("line_total_vnd", "BIGINT", "quantity x price_vnd."),
    _c("payment_method", "VARCHAR", ""),
)


def _metrics_columns() -> tuple[Column, ...]:
    counts = [
        *(_c(f"events_{kind}", "BIGINT", f"{kind} events.") for kind in EVENT_TYPES),
        *(_c(f"source_{name}", "BIGINT", f"Events from {name}.") for name in SOURCES),
        *(_c(f"device_{name}", "BIGINT", f"Events on {name}.") for name in DEVICES),
    ]
    rate: ColumnType = "DOUBLE"
    return (
        _c("events", "BIGINT", "Events in the period."),
        *counts,
        _c("sessions", "BIGINT", "Sessions whose first event is in the period."),
        _c("sessions_viewed", "BIGINT", "Of those, sessions that viewed an item."),
        _c("sessions_added", "BIGINT", "... that added to cart."),
        _c("sessions_checkout", "BIGINT", "... that began checkout."),
        _c("sessions_purchased", "BIGINT", "... that purchased."),
        _c("view_to_cart_rate", rate, "sessions_added / sessions_viewed."),
        _c("cart_to_checkout_rate", rate, "sessions_checkout / sessions_added."),
        _c("checkout_to_purchase_rate", rate, "sessions_purchased / sessions_checkout."),
        _c("conversion_rate", rate, "sessions_purchased / sessions."),
        _c(
            "cart_abandonment_rate",
            rate,
            "(sessions_added - sessions_purchased) / sessions_added, as /cart/statistics.",
        ),
        _c("abandoned_sessions", "BIGINT", "Of the period's sessions, those abandoned."),
        _c("orders", "BIGINT", "Purchase events in the period."),
        _c("revenue_vnd", "BIGINT", "Sum of their cart_total_vnd (cancellations not deducted)."),
        _c("average_order_vnd", "BIGINT", "revenue_vnd // orders."),
        _c("cancelled_orders", "BIGINT", "order_cancelled events."),
        _c("cancelled_vnd", "BIGINT", "Sum of their cart_total_vnd."),
        _c("add_remove_ratio", rate, "add_to_cart / remove_from_cart events."),
    )


_PRODUCT_COLUMNS = (
    _c("product_id", "BIGINT", ""),
    _c("product_name", "VARCHAR", ""),
    _c("category", "VARCHAR", ""),
    _c("brand", "VARCHAR", ""),
    _c("views", "BIGINT", "view_item events."),
    _c("adds", "BIGINT", "add_to_cart events."),
    _c("removes", "BIGINT", "remove_from_cart events."),
    _c("orders", "BIGINT", "Order lines of the product (purchases that held it)."),
    _c("units_purchased", "BIGINT", ""),
    _c("revenue_vnd", "BIGINT", "Sum of its order lines' line_total_vnd."),
    _c("view_to_add_rate", "DOUBLE", "adds / views."),
    _c("add_to_purchase_rate", "DOUBLE", "orders / adds."),
)

TABLES: dict[str, TableSchema] = {
    table.name: table
    for table in (
        TableSchema(
            name="events",
            description="Every stored event, typed, deduplicated by event_id.",
            key=("timestamp_unix", "event_id"),
            columns=_EVENT_COLUMNS,
        ),
        TableSchema(
            name="sessions",
            description="One row per session.",
            key=("session_id",),
            columns=_SESSION_COLUMNS,
        ),
        TableSchema(
            name="order_lines",
            description="One row per product of each purchase.",
            key=("order_id", "session_id", "purchased_at", "product_id"),
            columns=_ORDER_LINE_COLUMNS,
        ),
        TableSchema(
            name="metrics_hourly",
            description="The day's figures per local hour (hour_start in Vietnam time).",
            key=("hour_start",),
            columns=(
                _c("hour_start", "TIMESTAMPTZ", "Start of the local hour."),
                *_metrics_columns(),
            ),
        ),
        TableSchema(
            name="metrics_daily",
            description="One row per day: the figures of /cart/statistics for that day.",
            key=(),
            columns=_metrics_columns(),
        ),
        TableSchema(
            name="products_daily",
            description="Per product and day: views, adds, removes, purchases, conversion.",
            key=("product_id",),
            columns=_PRODUCT_COLUMNS,
        ),
    )
}


class InputRecord(BaseModel):
    """One input file that was transformed, and what reading it gave."""

    name: str = Field(description="Segment file name, or the file's absolute path.")
    size: int = Field(description="Bytes of the file when it was read.")
    lines: int = Field(description="Lines read (whole gzip members only).")
    events: int = Field(description="Lines that were events.")
    skipped_lines: int = Field(description="Lines that were not events (counted, not kept).")
    torn_bytes: int = Field(description="Bytes of a torn gzip tail that were left out.")


class TransformManifest(BaseModel):
    """`OUT/_manifest.json`: what the tables hold, so a rerun reads only new inputs."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int
    abandon_after_s: float = Field(description="The worker's threshold the tables were built with.")
    start_ms: int | None = Field(default=None, description="--start: events from this instant.")
    end_ms: int | None = Field(default=None, description="--end: events before this instant.")
    inputs: list[InputRecord] = Field(default_factory=list)
    partitions: dict[str, list[str]] = Field(
        default_factory=dict, description="Per table, the event dates it has a partition for."
    )
