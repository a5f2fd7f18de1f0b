"""The transforms, defined once as SQL in DuckDB's dialect; the Spark engine runs SQLGlot's
translation of the same text.

Every statement reads views the engine registers (`raw_events`, `stored_events`, `all_events`)
and names only functions both engines have after translation; the equality test of the two
engines is what keeps it so. Integer sums are cast back to BIGINT (DuckDB widens them to
HUGEINT, Spark keeps LONG) and every division guards its zero, so the written Parquet types and
values are the same on both.

The abandonment rule is the worker's (stream_processors/aggregate.py), evaluated once at the end
of the stored stream: a session is abandoned when its cart is not empty after its last event,
it never purchased, and its last event is at least `abandon_after_ms` older than the clock of
its partition (the newest event time stored for that Kafka log and partition).
"""

from __future__ import annotations

from cartsim.analytics import PARTITION_COLUMN, TABLES, TableSchema
from cartsim.events import DEVICES, EVENT_TYPES, SOURCES

#: Raw JSON fields and their types; `timestamp` is derived from timestamp_unix instead of parsed.
RAW_FIELDS: dict[str, str] = {
    "event_id": "VARCHAR",
    "event_type": "VARCHAR",
    "timestamp_unix": "BIGINT",
    "session_id": "VARCHAR",
    "customer_id": "BIGINT",
    "is_guest": "BOOLEAN",
    "source": "VARCHAR",
    "device": "VARCHAR",
    "browser": "VARCHAR",
    "product_id": "BIGINT",
    "product_name": "VARCHAR",
    "product_price_vnd": "BIGINT",
    "quantity": "BIGINT",
    "line_total_vnd": "BIGINT",
    "category": "VARCHAR",
    "brand": "VARCHAR",
    "search_query": "VARCHAR",
    "cart_total_vnd": "BIGINT",
    "order_id": "VARCHAR",
    "payment_method": "VARCHAR",
    "city": "VARCHAR",
}

VIETNAM_OFFSET_MS = 7 * 3_600_000
CART_KINDS = ("add_to_cart", "update_quantity", "remove_from_cart")
STAGE_RANKS = {
    "view_item": 1,
    "add_to_cart": 2,
    "begin_checkout": 3,
    "add_shipping_info": 4,
    "add_payment_info": 5,
    "payment_failed": 5,
    "purchase": 6,
}
STAGE_NAMES = ("session", "viewed", "added", "checkout", "shipping", "payment", "purchased")


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _date(ms: str) -> str:
    """The Vietnam calendar day of an epoch-milliseconds expression (UTC+7, no DST)."""
    return f"CAST(epoch_ms({ms} + {VIETNAM_OFFSET_MS}) AS DATE)"


def _instant(ms: str) -> str:
    return f"CAST(epoch_ms({ms}) AS TIMESTAMPTZ)"


def _ratio(part: str, whole: str) -> str:
    return f"CAST({part} AS DOUBLE) / NULLIF({whole}, 0)"


def _typed(table: TableSchema, source: str, where: str = "") -> str:
    """The table's columns, cast to their contract types, partition column first."""
    casts = ", ".join(
        f'CAST("{column.name}" AS {column.type}) AS "{column.name}"' for column in table.columns
    )
    return f"SELECT {PARTITION_COLUMN}, {casts} FROM {source} {where}"


VALID = (
    "event_id IS NOT NULL AND session_id IS NOT NULL AND timestamp_unix IS NOT NULL "
    "AND is_guest IS NOT NULL AND browser IS NOT NULL "
    f"AND event_type IN ({_quoted(EVENT_TYPES)}) AND source IN ({_quoted(SOURCES)}) "
    f"AND device IN ({_quoted(DEVICES)})"
)

#: The Vietnam day of an event, and whether a raw row is an event at all: the engines'
#: `raw_events` carry both as columns, computed once as the rows are read.
EVENT_DATE = _date("timestamp_unix")

_NEW_COLUMNS = ", ".join(
    f'"{name}"' for name in (*RAW_FIELDS, "kafka_log", "kafka_partition", PARTITION_COLUMN)
)

#: The event ids that more than one valid row of the new inputs carries (usually none).
DUPLICATES = """
SELECT event_id FROM raw_events WHERE valid GROUP BY event_id HAVING COUNT(*) > 1
"""

#: Of each duplicated id, its first row by input order, then time.
FIRST_COPIES = f"""
SELECT {_NEW_COLUMNS} FROM (
    SELECT r.*, row_number() OVER (
        PARTITION BY r.event_id ORDER BY input_order, timestamp_unix, session_id, event_type
    ) AS copy
    FROM raw_events AS r JOIN duplicates AS d ON d.event_id = r.event_id
    WHERE r.valid
) AS copies
WHERE copy = 1
"""

#: New events: the valid rows of the new inputs, first of each event_id, and none that an
#: earlier run already stored. The rows of ids seen once pass straight through; only the
#: duplicates were sorted (FIRST_COPIES), so the usual input, which has none, is read once and
#: never held whole. Anti-joins are LEFT JOINs on a NULL key, which both engines run as hash
#: joins (a correlated NOT EXISTS makes DuckDB group the outer side by the key first).
NEW_EVENTS = _typed(
    TABLES["events"],
    f"""(
    SELECT first_copies.*, {_instant("first_copies.timestamp_unix")} AS "timestamp"
    FROM (
        SELECT {", ".join(f"r.{c}" for c in _NEW_COLUMNS.split(", "))}
        FROM raw_events AS r LEFT JOIN duplicates AS d ON d.event_id = r.event_id
        WHERE r.valid AND d.event_id IS NULL
        UNION ALL
        SELECT {_NEW_COLUMNS} FROM first_copies
    ) AS first_copies
    LEFT JOIN stored_events AS stored ON stored.event_id = first_copies.event_id
    WHERE stored.event_id IS NULL
) AS fresh""",
)


def events(dates: list[str]) -> str:
    """The events partitions a run rewrites: what was stored for `dates` (ISO, the dates of
    the new events), plus the new events."""
    listed = ", ".join(f"DATE '{day}'" for day in dates)
    return f"""
SELECT * FROM ({_typed(TABLES["events"], "stored_events")}) AS kept
WHERE {PARTITION_COLUMN} IN ({listed})
UNION ALL
SELECT * FROM new_events
"""


#: Cart lines per purchase epoch: the worker's cart (add accumulates from the first add's
#: price, update_quantity sets the quantity of a line in the cart, remove drops the line,
#: purchase empties the cart). `epoch` counts the session's purchases before the event, so a
#: purchase's lines are those of its own epoch, and the open cart is the last epoch's.
CART_LINES = f"""
WITH moves AS (
    SELECT session_id, event_type, product_id, quantity, product_price_vnd, product_name,
        category, brand, timestamp_unix, event_id,
        row_number() OVER (PARTITION BY session_id ORDER BY timestamp_unix, event_id) AS seq,
        COALESCE(SUM(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) OVER (
            PARTITION BY session_id ORDER BY timestamp_unix, event_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ), 0) AS epoch
    FROM all_events
    WHERE event_type = 'purchase'
        OR (event_type IN ({_quoted(CART_KINDS)}) AND product_id IS NOT NULL)
),
lines AS (
    SELECT *, MAX(CASE WHEN event_type = 'remove_from_cart' THEN seq END) OVER (
        PARTITION BY session_id, epoch, product_id) AS last_remove
    FROM moves WHERE event_type <> 'purchase'
),
kept AS (
    SELECT *, MIN(CASE WHEN event_type = 'add_to_cart' THEN seq END) OVER (
        PARTITION BY session_id, epoch, product_id) AS first_add
    FROM lines
    WHERE seq > COALESCE(last_remove, 0) AND event_type <> 'remove_from_cart'
),
held AS (
    SELECT *, MAX(CASE WHEN event_type = 'update_quantity' THEN seq END) OVER (
        PARTITION BY session_id, epoch, product_id) AS last_update
    FROM kept WHERE first_add IS NOT NULL AND seq >= first_add
)
SELECT session_id, epoch, product_id,
    CAST(COALESCE(MAX(CASE WHEN seq = last_update THEN quantity END), 0)
        + COALESCE(SUM(CASE WHEN event_type = 'add_to_cart' AND seq > COALESCE(last_update, 0)
            THEN COALESCE(quantity, 1) END), 0) AS BIGINT) AS quantity,
    MAX(CASE WHEN seq = first_add THEN product_price_vnd END) AS price_vnd,
    MAX(CASE WHEN seq = first_add THEN product_name END) AS product_name,
    MAX(CASE WHEN seq = first_add THEN category END) AS category,
    MAX(CASE WHEN seq = first_add THEN brand END) AS brand
FROM held
GROUP BY session_id, epoch, product_id
"""

PURCHASES = """
SELECT session_id, event_id, order_id, customer_id, payment_method, timestamp_unix, event_date,
    row_number() OVER (PARTITION BY session_id ORDER BY timestamp_unix, event_id) - 1 AS epoch
FROM all_events WHERE event_type = 'purchase'
"""

ORDER_LINES = _typed(
    TABLES["order_lines"],
    f"""(
    SELECT p.event_date, p.order_id, p.session_id, p.customer_id,
        {_instant("p.timestamp_unix")} AS purchased_at, c.product_id, c.product_name, c.category,
        c.brand, c.quantity, c.price_vnd, c.quantity * c.price_vnd AS line_total_vnd,
        p.payment_method
    FROM purchases AS p JOIN cart_lines AS c ON c.session_id = p.session_id AND c.epoch = p.epoch
) AS joined""",
)

_RANK = " ".join(f"WHEN '{kind}' THEN {rank}" for kind, rank in STAGE_RANKS.items())
_STAGE = " ".join(f"WHEN {rank} THEN '{name}'" for rank, name in enumerate(STAGE_NAMES))


def _has(kind: str) -> str:
    return f"MAX(CASE WHEN event_type = '{kind}' THEN 1 ELSE 0 END)"


#: A session's attributes are those of its first event: one MIN_BY of them all, which
#: aggregates faster than one per column and takes them from one row.
_FIRST_FIELDS = ("customer_id", "is_guest", "source", "device", "browser", "city")
_FIRST = "{" + ", ".join(f"'{name}': {name}" for name in _FIRST_FIELDS) + "}"


def session_facts(abandon_after_ms: int) -> str:
    """Per session: the sessions table's columns and the funnel flags the metrics count.

    The order ids are listed from `purchases` (a few rows per session that bought), not by a
    list aggregate in `per_session`, which would carry a list state for every session."""
    return f"""
WITH per_session AS (
    SELECT session_id,
        MIN(timestamp_unix) AS first_ms, MAX(timestamp_unix) AS last_ms,
        MIN_BY({_FIRST}, timestamp_unix) AS first_event,
        COUNT(*) AS events,
        SUM(CASE WHEN event_type = 'add_to_cart' THEN COALESCE(quantity, 1) ELSE 0 END)
            AS items_added,
        SUM(CASE WHEN event_type = 'remove_from_cart' THEN COALESCE(quantity, 0) ELSE 0 END)
            AS items_removed,
        MAX(CASE event_type {_RANK} ELSE 0 END) AS stage_rank,
        SUM(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS orders,
        SUM(CASE WHEN event_type = 'purchase' THEN COALESCE(cart_total_vnd, 0) ELSE 0 END)
            AS revenue_vnd,
        {_has("view_item")} AS viewed, {_has("add_to_cart")} AS added,
        {_has("begin_checkout")} AS checkout,
        MAX(COALESCE(kafka_log, '')) AS clock_log,
        MAX(COALESCE(kafka_partition, -1)) AS clock_partition
    FROM all_events GROUP BY session_id
),
viewed AS (
    SELECT session_id, COUNT(DISTINCT product_id) AS products_viewed
    FROM all_events WHERE event_type = 'view_item' AND product_id IS NOT NULL
    GROUP BY session_id
),
ordered AS (
    SELECT session_id, array_to_string(list_sort(list(order_id)), ',') AS order_ids
    FROM purchases WHERE order_id IS NOT NULL GROUP BY session_id
),
clocks AS (
    SELECT COALESCE(kafka_log, '') AS clock_log, COALESCE(kafka_partition, -1) AS clock_partition,
        MAX(timestamp_unix) AS clock_ms
    FROM all_events GROUP BY COALESCE(kafka_log, ''), COALESCE(kafka_partition, -1)
),
paid AS (
    SELECT session_id, payment_method FROM (
        SELECT session_id, payment_method, row_number() OVER (
            PARTITION BY session_id
            ORDER BY CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END DESC,
                timestamp_unix DESC, event_id DESC
        ) AS latest
        FROM all_events
        WHERE payment_method IS NOT NULL
            AND event_type IN ('purchase', 'add_payment_info', 'payment_failed')
    ) AS ranked WHERE latest = 1
),
open_cart AS (
    SELECT c.session_id, SUM(c.quantity * c.price_vnd) AS cart_value_vnd, COUNT(*) AS lines
    FROM cart_lines AS c JOIN per_session AS s ON c.session_id = s.session_id
    WHERE c.epoch = s.orders
    GROUP BY c.session_id
)
SELECT {_date("s.first_ms")} AS event_date, s.first_ms, s.session_id,
    {", ".join(f"s.first_event.{name} AS {name}" for name in _FIRST_FIELDS)},
    {_instant("s.first_ms")} AS first_event_at, {_instant("s.last_ms")} AS last_event_at,
    CAST(s.last_ms - s.first_ms AS DOUBLE) / 1000 AS duration_s, s.events,
    COALESCE(v.products_viewed, 0) AS products_viewed,
    s.items_added, s.items_removed,
    CASE s.stage_rank {_STAGE} END AS furthest_stage,
    s.orders > 0 AS purchased, s.orders, NULLIF(od.order_ids, '') AS order_ids, s.revenue_vnd,
    p.payment_method, COALESCE(o.cart_value_vnd, 0) AS cart_value_vnd,
    (s.orders = 0 AND COALESCE(o.lines, 0) > 0
        AND s.last_ms <= k.clock_ms - {abandon_after_ms}) AS abandoned,
    s.viewed, s.added, s.checkout
FROM per_session AS s
JOIN clocks AS k ON k.clock_log = s.clock_log AND k.clock_partition = s.clock_partition
LEFT JOIN viewed AS v ON v.session_id = s.session_id
LEFT JOIN ordered AS od ON od.session_id = s.session_id
LEFT JOIN paid AS p ON p.session_id = s.session_id
LEFT JOIN open_cart AS o ON o.session_id = s.session_id
"""


SESSIONS = _typed(TABLES["sessions"], "session_facts")


#: Events per local hour, type, source and device, with their carts' totals: a few thousand
#: rows from which both metrics tables sum their event counts (every count is additive, and an
#: hour lies within one Vietnam day), so the events are scanned once for both and the
#: conditional sums run over these rows instead of over every event.
EVENT_COUNTS = """
SELECT event_date, timestamp_unix // 3600000 * 3600000 AS hour_ms, event_type, source, device,
    COUNT(*) AS events, SUM(COALESCE(cart_total_vnd, 0)) AS cart_total_vnd
FROM all_events
GROUP BY event_date, timestamp_unix // 3600000 * 3600000, event_type, source, device
"""


def _metrics(period: str, session_period: str, grouping: tuple[str, ...]) -> str:
    """The metrics of /cart/statistics per period: `period` of an `event_counts` row,
    `session_period` of a session (its first event), both giving the columns in `grouping`."""
    keys = ", ".join(grouping)

    def counted(condition: str, value: str = "events") -> str:
        return f"SUM(CASE WHEN {condition} THEN {value} ELSE 0 END)"

    counts = ",\n".join(
        [
            *(counted(f"event_type = '{k}'") + f" AS events_{k}" for k in EVENT_TYPES),
            *(counted(f"source = '{s}'") + f" AS source_{s}" for s in SOURCES),
            *(counted(f"device = '{d}'") + f" AS device_{d}" for d in DEVICES),
        ]
    )
    joined = " AND ".join(f"e.{key} = s.{key}" for key in grouping)
    return f"""(
WITH by_events AS (
    SELECT {period}, SUM(events) AS events, {counts},
        {counted("event_type = 'purchase'")} AS orders,
        {counted("event_type = 'purchase'", "cart_total_vnd")} AS revenue_vnd,
        {counted("event_type = 'order_cancelled'")} AS cancelled_orders,
        {counted("event_type = 'order_cancelled'", "cart_total_vnd")} AS cancelled_vnd
    FROM event_counts GROUP BY {keys}
),
by_sessions AS (
    SELECT {session_period}, COUNT(*) AS sessions, SUM(viewed) AS sessions_viewed,
        SUM(added) AS sessions_added, SUM(checkout) AS sessions_checkout,
        SUM(CASE WHEN purchased THEN 1 ELSE 0 END) AS sessions_purchased,
        SUM(CASE WHEN abandoned THEN 1 ELSE 0 END) AS abandoned_sessions
    FROM session_facts GROUP BY {keys}
)
SELECT e.*, COALESCE(s.sessions, 0) AS sessions,
    COALESCE(s.sessions_viewed, 0) AS sessions_viewed,
    COALESCE(s.sessions_added, 0) AS sessions_added,
    COALESCE(s.sessions_checkout, 0) AS sessions_checkout,
    COALESCE(s.sessions_purchased, 0) AS sessions_purchased,
    {_ratio("s.sessions_added", "s.sessions_viewed")} AS view_to_cart_rate,
    {_ratio("s.sessions_checkout", "s.sessions_added")} AS cart_to_checkout_rate,
    {_ratio("s.sessions_purchased", "s.sessions_checkout")} AS checkout_to_purchase_rate,
    {_ratio("s.sessions_purchased", "s.sessions")} AS conversion_rate,
    {_ratio("s.sessions_added - s.sessions_purchased", "s.sessions_added")}
        AS cart_abandonment_rate,
    COALESCE(s.abandoned_sessions, 0) AS abandoned_sessions,
    CASE WHEN e.orders > 0 THEN e.revenue_vnd // e.orders END AS average_order_vnd,
    {_ratio("e.events_add_to_cart", "e.events_remove_from_cart")} AS add_remove_ratio
FROM by_events AS e LEFT JOIN by_sessions AS s ON {joined}
) AS metrics"""


METRICS_DAILY = _typed(
    TABLES["metrics_daily"],
    _metrics("event_date", "event_date", ("event_date",)),
)
METRICS_HOURLY = _typed(
    TABLES["metrics_hourly"],
    _metrics(
        f"event_date, {_instant('hour_ms')} AS hour_start",
        f"event_date, {_instant('first_ms // 3600000 * 3600000')} AS hour_start",
        ("event_date", "hour_start"),
    ),
)

PRODUCTS_DAILY = _typed(
    TABLES["products_daily"],
    f"""(
SELECT event_date, product_id, MAX(product_name) AS product_name, MAX(category) AS category,
    MAX(brand) AS brand, SUM(views) AS views, SUM(adds) AS adds, SUM(removes) AS removes,
    SUM(orders) AS orders, SUM(units) AS units_purchased, SUM(revenue) AS revenue_vnd,
    {_ratio("SUM(adds)", "SUM(views)")} AS view_to_add_rate,
    {_ratio("SUM(orders)", "SUM(adds)")} AS add_to_purchase_rate
FROM (
    SELECT event_date, product_id, product_name, category, brand,
        CASE WHEN event_type = 'view_item' THEN 1 ELSE 0 END AS views,
        CASE WHEN event_type = 'add_to_cart' THEN 1 ELSE 0 END AS adds,
        CASE WHEN event_type = 'remove_from_cart' THEN 1 ELSE 0 END AS removes,
        0 AS orders, 0 AS units, 0 AS revenue
    FROM all_events
    WHERE product_id IS NOT NULL
        AND event_type IN ('view_item', 'add_to_cart', 'remove_from_cart')
    UNION ALL
    SELECT event_date, product_id, product_name, category, brand, 0, 0, 0, 1, quantity,
        line_total_vnd
    FROM order_lines
) AS activity
GROUP BY event_date, product_id
) AS products""",
)

#: Intermediate views, in the order they are built (each reads the ones before).
VIEWS: tuple[tuple[str, str], ...] = (
    ("cart_lines", CART_LINES),
    ("purchases", PURCHASES),
    ("order_lines", ORDER_LINES),
    ("event_counts", EVENT_COUNTS),
)

#: What each output table is, over the views above and `session_facts`.
OUTPUTS: dict[str, str] = {
    "sessions": SESSIONS,
    "order_lines": "SELECT * FROM order_lines",
    "metrics_hourly": METRICS_HOURLY,
    "metrics_daily": METRICS_DAILY,
    "products_daily": PRODUCTS_DAILY,
}
