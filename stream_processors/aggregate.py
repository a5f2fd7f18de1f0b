"""How one partition's events change its totals, minute windows, sessions and abandoned carts.

Pure Python over dict-like tables, so it runs the same in the Faust agent, in the rebuild from
files and in tests.

Exactly once without transactions: every table value carries `o`, the offset of the last event
applied to it. After a crash Kafka redelivers what was not committed, and each value takes only
events newer than its `o`, so a value written just before the crash is not counted twice and one
that was lost is rebuilt. Each key belongs to one source partition (totals and windows by name,
sessions because the topic is keyed by session) and is written to that partition of its
changelog, so recovery, which keeps the last record of each key, restores it whole.

Event time decides: a partition's clock is the newest event time it has seen, so a backfilled
history gives the same tables as a live run.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from cartsim.settings import Settings
from cartsim.worker_views import (
    MINUTE_MS,
    PRODUCT_COUNTERS,
    AbandonedEntry,
    FunnelCounts,
    PartitionTotals,
    ProductColumns,
)

#: What a table's values live in: a Faust table's store in the worker, a dict in the rebuild
#: from files and in tests.
Store = MutableMapping[bytes, bytes]
Event = dict[str, Any]
#: (table name, key, new value or None to delete)
Write = tuple[str, bytes, bytes | None]

TABLE_NAMES = ("totals", "minutes", "sessions", "abandoned")
#: Too-late and repeated offsets a totals value remembers: more than a redelivery spans.
_DECISIONS_KEPT = 1_000
#: The funnel's stages, as the contract names them.
STAGES = tuple(FunnelCounts.model_fields)
_STAGE_OF = {
    "view_item": "viewed",
    "add_to_cart": "added",
    "begin_checkout": "checkout",
    "purchase": "purchased",
}
_CHECKOUT_STEP = {
    "begin_checkout": "checkout",
    "add_shipping_info": "shipping",
    "add_payment_info": "payment",
    "payment_failed": "payment",
    "purchase": "purchased",
}
#: A product's counters are a list in the totals value, in the order of the contract's
#: `PRODUCT_COUNTERS` (`products` is most of a value the aggregator decodes and encodes every
#: batch).
VIEWS, ADDS, REMOVES, UNITS, REVENUE = (
    PRODUCT_COUNTERS.index(name)
    for name in ("views", "adds", "removes", "units_purchased", "revenue_vnd")
)


@dataclass(frozen=True)
class Rules:
    """When a cart counts as abandoned, and how long state is kept (all in event time), in the
    integer milliseconds the aggregator compares event times with. No defaults: the settings
    hold them, and `Rules.of` reads them."""

    abandon_after_ms: int
    session_retention_ms: int
    abandoned_retention_ms: int
    window_retention_ms: int
    #: An event older than its partition's clock by more is too late (counted, not applied).
    #: At most the session retention: a later one could find its session gone.
    allowed_lateness_ms: int
    dedup: bool  # a session applies each event_id once

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        retention = settings.session_retention_s
        lateness = min(settings.allowed_lateness_s or retention, retention)
        return cls(
            abandon_after_ms=int(settings.abandon_after_s * 1000),
            session_retention_ms=int(retention * 1000),
            abandoned_retention_ms=int(settings.abandoned_retention_s * 1000),
            window_retention_ms=int(settings.window_retention_s * 1000),
            allowed_lateness_ms=int(lateness * 1000),
            dedup=settings.dedup,
        )


def encode(value: dict[str, Any]) -> bytes:
    """JSON for a table value, in a bytes object of its own size.

    orjson 3.13 returns bytes that keep its write buffer's capacity: about 4 KB resident for a
    300-byte session. Tables keep values for hours, so each is copied out once (measured, key and
    dict slot included: 438 bytes per stored session copied, 4,228 not).
    """
    return bytes(memoryview(orjson.dumps(value)))


def put(tables: MutableMapping[str, Store], writes: Iterable[Write]) -> None:
    """Apply writes to plain dict tables (a rebuild or a tally with no changelog behind them)."""
    for name, key, value in writes:
        if value is None:
            tables[name].pop(key, None)
        else:
            tables[name][key] = value


def totals_key(partition: int) -> bytes:
    return b"p%d" % partition


def totals_partition(key: bytes) -> int:
    """The partition a totals key is for (the inverse of `totals_key`)."""
    return int(key[1:])


def minute_key(partition: int, minute: int) -> bytes:
    return b"p%d:%d" % (partition, minute)


def new_totals(partition: int) -> dict[str, Any]:
    return {
        "p": partition,
        "o": -1,
        "clock_ms": 0,
        "events": 0,
        "event_type": {},
        "source": {},
        "device": {},
        "browser": {},
        "products": {},
        "funnel": dict.fromkeys(STAGES, 0),
        "revenue_vnd": 0,
        "orders": 0,
        "cancelled_orders": 0,
        "cancelled_vnd": 0,
        **new_fault_counts(),
    }


def new_fault_counts() -> dict[str, Any]:
    """Records not applied: not cart events, repeated event ids, events later than allowed.

    `late_offsets` and `repeat_offsets` keep the latest of each, so a redelivery after a crash
    decides as the first delivery did, even where the clock has moved on or the session expired.
    """
    return {
        "dead_letters": 0,
        "duplicates": 0,
        "too_late": 0,
        "late_offsets": [],
        "repeat_offsets": [],
    }


def served_totals(log: str, value: dict[str, Any]) -> PartitionTotals:
    """A totals value as the contract names it: the one reader of this layout outside the
    aggregator. Built without validation, from the values this module wrote. Its abandoned
    carts are counted elsewhere (the abandoned table), so 0 here."""
    products = value["products"]
    # a list per counter; none without products, where the model's defaults are empty lists
    columns: dict[str, Any] = dict(
        zip(PRODUCT_COUNTERS, map(list, zip(*products.values(), strict=True)), strict=False)
    )
    return PartitionTotals.model_construct(
        log=log,
        partition=value["p"],
        offset=value["o"],
        clock_ms=value["clock_ms"],
        events=value["events"],
        event_types=value["event_type"],
        sources=value["source"],
        devices=value["device"],
        browsers=value["browser"],
        funnel=FunnelCounts.model_construct(**value["funnel"]),
        products=ProductColumns.model_construct(product_id=list(map(int, products)), **columns),
        revenue_vnd=value["revenue_vnd"],
        orders=value["orders"],
        cancelled_orders=value["cancelled_orders"],
        cancelled_vnd=value["cancelled_vnd"],
        # absent from values a changelog kept from before faults were counted
        **{name: value.get(name, 0) for name in ("dead_letters", "duplicates", "too_late")},
        abandoned_carts=0,
    )


def _new_session(partition: int, event: Event) -> dict[str, Any]:
    return {
        "p": partition,
        "o": -1,
        "session_id": event["session_id"],
        "customer_id": event["customer_id"],
        "is_guest": event["is_guest"],
        "city": event.get("city"),
        "first_ms": event["timestamp_unix"],
        "last_ms": event["timestamp_unix"],
        "last_activity": event["timestamp"],
        "cart": {},  # product id -> [quantity, price, name]
        "stage": "browsing",
        "stages": {},  # stage -> offset of the event that first reached it
        "orders": {},  # offset of a purchase -> [[product id, quantity, price], ...]
        "purchased": False,
        "seen": {},  # event id -> the offset it was applied at (with dedup on)
        "log": [],  # cart events in event-time order: [ms, event id, type, product, qty, price,
        # name, offset]
        "adjust": {},  # offset of a late cart event -> {product: [units, revenue]} to add
        "stage_ms": 0,
    }


_CART_KINDS = frozenset(("add_to_cart", "update_quantity", "remove_from_cart", "purchase"))


def _kept(offsets: list[int], offset: int) -> list[int]:
    return [*offsets[-_DECISIONS_KEPT + 1 :], offset]


def _cart_step(session: dict[str, Any], entry: list[Any]) -> None:
    """One cart event on the session's cart (and, for a purchase, its order's lines)."""
    _, _, kind, product, quantity, price, name, offset = entry
    cart = session["cart"]
    if kind == "add_to_cart" and product is not None:
        line = cart.setdefault(str(product), [0, price, name])
        line[0] += quantity or 1
    elif kind == "update_quantity" and str(product) in cart:
        cart[str(product)][0] = quantity
    elif kind == "remove_from_cart":
        cart.pop(str(product), None)
    elif kind == "purchase":
        session["orders"].setdefault(
            str(offset), [[int(p), q, price] for p, (q, price, _) in cart.items()]
        )
        session["purchased"] = True
        cart.clear()


def _order_sums(lines: list[list[int]], into: dict[str, list[int]], sign: int = 1) -> None:
    for product, quantity, price in lines:
        sums = into.setdefault(str(product), [0, 0])
        sums[0] += sign * quantity
        sums[1] += sign * quantity * price


def _replay_cart(session: dict[str, Any], offset: int) -> None:
    """A cart event came out of event-time order: rebuild the cart from the log in order.

    An order's lines as first recorded stay (totals counted them); where the rebuilt order
    differs, the difference is kept under this event's offset for the totals to add.
    """
    counted: dict[str, dict[str, list[int]]] = {}
    for order, lines in session["orders"].items():
        _order_sums(lines, counted.setdefault(order, {}))
    for earlier in session["adjust"].values():
        for order, products in earlier.items():
            for product, (units, revenue) in products.items():
                sums = counted.setdefault(order, {}).setdefault(product, [0, 0])
                sums[0] += units
                sums[1] += revenue
    known = session["orders"]
    session["cart"], session["orders"] = {}, {}
    for entry in session["log"]:
        _cart_step(session, entry)
    rebuilt, session["orders"] = session["orders"], known
    changes: dict[str, dict[str, list[int]]] = {}
    for order, lines in rebuilt.items():
        if order not in known:
            known[order] = lines  # this event is the purchase: counted as it is now
            continue
        delta: dict[str, list[int]] = {}
        _order_sums(lines, delta)
        for product, (units, revenue) in counted.get(order, {}).items():
            sums = delta.setdefault(product, [0, 0])
            sums[0] -= units
            sums[1] -= revenue
        delta = {p: sums for p, sums in delta.items() if sums != [0, 0]}
        if delta:
            changes[order] = delta
    if changes:
        session["adjust"][str(offset)] = changes


def _apply_to_session(session: dict[str, Any], offset: int, event: Event, dedup: bool) -> None:
    kind = event["event_type"]
    stamp = event["timestamp_unix"]
    if stamp >= session["last_ms"]:
        session["last_ms"] = stamp
        session["last_activity"] = event["timestamp"]
    session["first_ms"] = min(session["first_ms"], stamp)
    if dedup:
        session.setdefault("seen", {})[event["event_id"]] = offset
    stages = session["stages"]
    stages.setdefault("session", offset)
    if (stage := _STAGE_OF.get(kind)) is not None:
        stages.setdefault(stage, offset)
    if kind in _CART_KINDS:
        entry = [
            stamp,
            event["event_id"],
            kind,
            event.get("product_id"),
            event["quantity"],
            event["product_price_vnd"],
            event["product_name"],
            offset,
        ]
        log = session.setdefault("log", [])
        if not log or log[-1][:2] <= entry[:2]:
            log.append(entry)
            _cart_step(session, entry)
        else:
            bisect.insort(log, entry)
            session.setdefault("adjust", {})
            _replay_cart(session, offset)
    if stamp >= session.get("stage_ms", 0):
        if (step := _CHECKOUT_STEP.get(kind)) is not None:
            session["stage"], session["stage_ms"] = step, stamp
        elif kind == "order_cancelled":
            session["stage"], session["stage_ms"] = "cancelled", stamp
    session["o"] = offset


def _count(counter: dict[str, int], key: Any) -> None:
    key = str(key)
    counter[key] = counter.get(key, 0) + 1


def _apply_to_totals(
    totals: dict[str, Any], offset: int, event: Event, session: dict[str, Any]
) -> None:
    kind = event["event_type"]
    totals["events"] += 1
    totals["clock_ms"] = max(totals["clock_ms"], event["timestamp_unix"])
    _count(totals["event_type"], kind)
    _count(totals["source"], event["source"])
    _count(totals["device"], event["device"])
    _count(totals["browser"], event["browser"])
    funnel = totals["funnel"]
    for stage, first in session["stages"].items():
        if first == offset:
            funnel[stage] += 1
    products = totals["products"]
    product = event.get("product_id")
    if kind in ("view_item", "add_to_cart", "remove_from_cart") and product is not None:
        stats = products.setdefault(str(product), [0] * len(PRODUCT_COUNTERS))
        stats[{"view_item": VIEWS, "add_to_cart": ADDS, "remove_from_cart": REMOVES}[kind]] += 1
    elif kind == "purchase":
        totals["orders"] += 1
        totals["revenue_vnd"] += event.get("cart_total_vnd") or 0
        for product_id, quantity, price in session["orders"].get(str(offset), ()):
            stats = products.setdefault(str(product_id), [0] * len(PRODUCT_COUNTERS))
            stats[UNITS] += quantity
            stats[REVENUE] += quantity * price
    elif kind == "order_cancelled":
        totals["cancelled_orders"] += 1
        totals["cancelled_vnd"] += event.get("cart_total_vnd") or 0
    for changes in session.get("adjust", {}).get(str(offset), {}).values():
        for product_id, (units, revenue) in changes.items():
            stats = products.setdefault(product_id, [0, 0, 0, 0, 0])
            stats[UNITS] += units
            stats[REVENUE] += revenue
    totals["o"] = offset


def abandoned_record(session: dict[str, Any], clock_ms: int) -> dict[str, Any]:
    """What downstream systems (a remarketing mailer, say) need to know of an abandoned cart."""
    lines = [
        {
            "product_id": int(product),
            "product_name": name,
            "product_price_vnd": price,
            "quantity": quantity,
            "line_total_vnd": price * quantity,
        }
        for product, (quantity, price, name) in session["cart"].items()
    ]
    return {
        "session_id": session["session_id"],
        "p": session["p"],
        "o": session["o"],
        "customer_id": session["customer_id"],
        "is_guest": session["is_guest"],
        "city": session.get("city"),
        "cart": lines,
        "cart_value_vnd": sum(line["line_total_vnd"] for line in lines),
        "checkout_stage": session["stage"],
        "first_activity_unix": session["first_ms"],
        "last_activity": session["last_activity"],
        "last_activity_unix": session["last_ms"],
        "abandoned_at_unix": clock_ms,
    }


def served_cart(log: str, record: dict[str, Any], partition_offset: int) -> AbandonedEntry:
    """An `abandoned_record` as the contract names it, with its partition's offset."""
    return AbandonedEntry(
        log=log,
        partition=record["p"],
        partition_offset=partition_offset,
        session_id=record["session_id"],
        customer_id=record["customer_id"],
        is_guest=record["is_guest"],
        city=record["city"],
        cart=record["cart"],
        cart_value_vnd=record["cart_value_vnd"],
        checkout_stage=record["checkout_stage"],
        first_activity_unix=record["first_activity_unix"],
        last_activity=record["last_activity"],
        last_activity_unix=record["last_activity_unix"],
        abandoned_at_unix=record["abandoned_at_unix"],
    )


@dataclass
class _MinuteIndex:
    """Keys by the minute of their last activity, so idle ones are found without a full scan."""

    buckets: dict[int, set[bytes]] = field(default_factory=dict)

    def move(self, key: bytes, old_ms: int | None, new_ms: int) -> None:
        if old_ms is not None and old_ms // MINUTE_MS != new_ms // MINUTE_MS:
            self.discard(key, old_ms)
        self.buckets.setdefault(new_ms // MINUTE_MS, set()).add(key)

    def discard(self, key: bytes, ms: int) -> None:
        bucket = self.buckets.get(ms // MINUTE_MS)
        if bucket is not None:
            bucket.discard(key)
            if not bucket:
                del self.buckets[ms // MINUTE_MS]

    def up_to(self, ms: int) -> Iterator[tuple[int, set[bytes]]]:
        """Buckets whose minute starts at or before `ms`, oldest first."""
        last = ms // MINUTE_MS
        for minute in sorted(m for m in self.buckets if m <= last):
            yield minute, self.buckets[minute]

    def keys(self) -> Iterator[bytes]:
        for bucket in self.buckets.values():
            yield from bucket


@dataclass
class _Partition:
    """What the aggregator keeps in memory about one partition, rebuilt from the tables."""

    sessions: _MinuteIndex = field(default_factory=_MinuteIndex)
    abandoned: _MinuteIndex = field(default_factory=_MinuteIndex)
    minutes: set[int] = field(default_factory=set)
    checked_minute: int = -1  # activity buckets up to here were examined for abandonment
    late: set[bytes] = field(default_factory=set)  # activity landing in examined buckets


class Aggregator:
    """The state machine of a worker's partitions over four tables.

    `tables` maps the names totals, minutes, sessions and abandoned to dict-like tables of
    bytes. `apply` returns the writes and the abandoned-cart records to publish and changes
    no table itself, so the caller decides how writes reach the tables and their changelogs.
    """

    def __init__(self, tables: dict[str, Store], rules: Rules) -> None:
        self.tables = tables
        self.rules = rules
        self.partitions: dict[int, _Partition] = {}

    def assign(self, partitions: Iterable[int]) -> None:
        """Index what recovery restored for newly assigned partitions, in one pass per table."""
        fresh = {p: _Partition() for p in partitions if p not in self.partitions}
        if not fresh:
            return
        for key in self.tables["minutes"]:
            partition, _, minute = key[1:].partition(b":")
            if int(partition) in fresh:
                fresh[int(partition)].minutes.add(int(minute))
        for name, stamp in (("sessions", "last_ms"), ("abandoned", "last_activity_unix")):
            for sid, raw in self.tables[name].items():
                value = orjson.loads(raw)
                state = fresh.get(value["p"])
                if state is not None:
                    index = state.sessions if name == "sessions" else state.abandoned
                    index.move(sid, None, value[stamp])
        self.partitions.update(fresh)

    def revoke(self, partitions: Iterable[int]) -> Iterator[tuple[str, bytes]]:
        """Forget revoked partitions; yields their keys so the caller can drop them."""
        for partition in partitions:
            state = self.partitions.pop(partition, None)
            if state is None:
                continue
            yield "totals", totals_key(partition)
            for minute in state.minutes:
                yield "minutes", minute_key(partition, minute)
            for sid in state.sessions.keys():
                yield "sessions", sid
            for sid in state.abandoned.keys():
                yield "abandoned", sid

    def reset(self, partition: int, floor: int) -> list[Write]:
        """Empty a partition's tables, and count no event below `floor` from now on.

        The floor lives in the totals value, so it survives a restart with the changelog.
        """
        writes: list[Write] = [
            (name, key, None) for name, key in self.revoke([partition]) if name != "totals"
        ]
        totals = {**new_totals(partition), "o": floor - 1, "floor": floor}
        writes.append(("totals", totals_key(partition), encode(totals)))
        self.partitions[partition] = _Partition()
        return writes

    def apply(
        self, partition: int, batch: Iterable[tuple[int, Event]], dead: Collection[int] = ()
    ) -> tuple[list[Write], list[dict], list[int]]:
        """Apply one partition's events (offset order), then abandonment and retention.

        `dead` are the offsets of this fetch's records that were not cart events (counted).
        Returns the writes, the abandoned-cart records to publish, and the offsets of repeated
        event ids, which the files must not store either.
        """
        self.assign([partition])
        state = self.partitions[partition]
        tables = self.tables
        rules = self.rules
        key = totals_key(partition)
        raw = tables["totals"].get(key)
        totals = orjson.loads(raw) if raw else new_totals(partition)
        for name, zero in new_fault_counts().items():
            totals.setdefault(name, zero)
        sessions: dict[bytes, dict[str, Any]] = {}
        minutes: dict[int, dict[str, Any]] = {}
        abandoned: dict[bytes, bytes | None] = {}
        published: list[dict] = []
        touched: set[bytes] = set()
        repeated: list[int] = []
        floor = totals.get("floor", 0)
        fresh = [o for o in dead if o > totals["o"] and o >= floor]
        totals["dead_letters"] += len(fresh)  # once: the batch's last offset goes into "o"
        # events up to here were decided by an earlier delivery: its too-late ones are recorded
        decided = totals["o"]
        too_late_before, repeats_before = set(totals["late_offsets"]), set(totals["repeat_offsets"])
        for offset, event in batch:
            if offset < floor:
                continue  # cleared by a replace: redelivered after a crash, counted nowhere
            sid = event["session_id"].encode()
            session = sessions.get(sid) or self._session(sid)
            if offset <= decided:
                repeat = offset in repeats_before
            else:
                first = (session or {}).get("seen", {}).get(event["event_id"], offset)
                repeat = rules.dedup and first != offset
            if repeat:  # however late: never stored, applied once
                repeated.append(offset)
                touched.add(sid)  # its session expires no earlier than the next batch
                if offset > totals["o"]:
                    totals["duplicates"] += 1
                    totals["repeat_offsets"] = _kept(totals["repeat_offsets"], offset)
                    totals["o"] = offset
                continue
            if offset <= decided:
                too_late = offset in too_late_before
            else:
                too_late = event["timestamp_unix"] < totals["clock_ms"] - rules.allowed_lateness_ms
            if too_late:
                if offset > totals["o"]:
                    totals["too_late"] += 1
                    totals["late_offsets"] = _kept(totals["late_offsets"], offset)
                    totals["o"] = offset
                continue
            session = session or _new_session(partition, event)
            sessions[sid] = session
            if offset > session["o"]:
                touched.add(sid)
                before = session["last_ms"] if session["o"] >= 0 else None
                _apply_to_session(session, offset, event, rules.dedup)
                state.sessions.move(sid, before, session["last_ms"])
                if session["last_ms"] // MINUTE_MS <= state.checked_minute:
                    state.late.add(sid)
                recorded = abandoned[sid] if sid in abandoned else tables["abandoned"].get(sid)
                if recorded:
                    self._reactivate(state, sid, offset, session, abandoned, published)
            if offset > totals["o"]:
                _apply_to_totals(totals, offset, event, session)
            minute = event["timestamp_unix"] // MINUTE_MS
            window = minutes.get(minute) or self._minute(partition, minute)
            minutes[minute] = window
            if offset > window["o"]:
                _count(window["counts"], event["event_type"])
                window["o"] = offset

        if fresh:
            totals["o"] = max(totals["o"], *fresh)
        clock = totals["clock_ms"]
        self._abandon(state, clock, sessions, abandoned, published)
        writes: list[Write] = [("totals", key, encode(totals))]
        for minute, window in minutes.items():
            state.minutes.add(minute)
            writes.append(("minutes", minute_key(partition, minute), encode(window)))
        for sid, session in sessions.items():
            writes.append(("sessions", sid, encode(session)))
        for sid, value in abandoned.items():
            writes.append(("abandoned", sid, value))
        writes.extend(self._expire(partition, state, clock, touched | abandoned.keys()))
        return writes, published, repeated

    def _session(self, sid: bytes) -> dict[str, Any] | None:
        raw = self.tables["sessions"].get(sid)
        return orjson.loads(raw) if raw else None

    def _minute(self, partition: int, minute: int) -> dict[str, Any]:
        raw = self.tables["minutes"].get(minute_key(partition, minute))
        return orjson.loads(raw) if raw else {"o": -1, "counts": {}}

    def _reactivate(
        self,
        state: _Partition,
        sid: bytes,
        offset: int,
        session: dict[str, Any],
        abandoned: dict[bytes, bytes | None],
        published: list[dict],
    ) -> None:
        """A shopper came back: the cart is no longer abandoned, and downstream hears of it.

        Only an event newer than the abandonment counts: after a crash that kept the abandoned
        record but lost the session's update, redelivered older events must not undo it.
        """
        raw = abandoned[sid] if sid in abandoned else self.tables["abandoned"].get(sid)
        if not raw:
            return
        record = orjson.loads(raw)
        if offset <= record["o"]:
            return
        state.abandoned.discard(sid, record["last_activity_unix"])
        abandoned[sid] = None
        published.append({"session_id": sid.decode(), "abandoned": False, "p": session["p"]})

    def _abandon(
        self,
        state: _Partition,
        clock: int,
        sessions: dict[bytes, dict[str, Any]],
        abandoned: dict[bytes, bytes | None],
        published: list[dict],
    ) -> None:
        """Carts idle past the threshold become abandoned: recorded once, published once.

        Activity buckets wholly past the threshold are examined once; a session can only
        leave them (new activity moves it to a newer bucket), except for late events, which
        are kept aside and examined with the next batch.
        """
        idle_before = clock - self.rules.abandon_after_ms
        candidates = list(state.late)
        state.late.clear()
        for minute, bucket in state.sessions.up_to(idle_before):
            if minute > state.checked_minute:
                candidates.extend(bucket)
                if (minute + 1) * MINUTE_MS - 1 <= idle_before:
                    state.checked_minute = minute
        for sid in candidates:
            session = sessions.get(sid) or self._session(sid)
            if session is None or session["purchased"] or not session["cart"]:
                continue
            if abandoned.get(sid) if sid in abandoned else sid in self.tables["abandoned"]:
                continue  # the abandoned table, not the session, records it: one truth
            if session["last_ms"] > idle_before:
                state.late.add(sid)  # in the boundary bucket: look again next batch
                continue
            record = abandoned_record(session, clock)
            abandoned[sid] = encode(record)
            state.abandoned.move(sid, None, session["last_ms"])
            published.append({**record, "abandoned": True})

    def _expire(
        self, partition: int, state: _Partition, clock: int, held: set[bytes]
    ) -> Iterator[Write]:
        """Retention in event time keeps memory bounded however long the stream runs.

        A session this batch touched, abandoned or took back waits for the next batch: were it
        deleted here, a crash that kept the delete but lost the other writes would let
        redelivery start it afresh, or never find the cart it should have abandoned.
        """
        rules = self.rules
        for index, table, retention in (
            (state.sessions, "sessions", rules.session_retention_ms),
            (state.abandoned, "abandoned", rules.abandoned_retention_ms),
        ):
            for minute in [m for m, _ in index.up_to(clock - retention - MINUTE_MS)]:
                for sid in index.buckets.pop(minute):
                    if table == "sessions" and sid in held:
                        index.buckets.setdefault(minute, set()).add(sid)
                        continue
                    state.late.discard(sid)
                    yield table, sid, None
        cutoff = clock - rules.window_retention_ms
        for minute in [m for m in state.minutes if (m + 1) * MINUTE_MS <= cutoff]:
            state.minutes.discard(minute)
            yield "minutes", minute_key(partition, minute), None
