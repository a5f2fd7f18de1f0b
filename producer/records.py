"""Cart events as JSON bytes, assembled from fragments encoded once.

Serialising a 22-key dict with orjson costs about as much as simulating the event. Most of a
record never changes within a session (who, where, on what) or within a product (id, name,
price, category, brand), so those parts are encoded once with orjson, which also does the JSON
string escaping, and each event fills a bytes template with them. Keys come in the order of
`cartsim.events.CartEvent`, public fields first; every key is present, null when not applicable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

import orjson

from cartsim.events import EVENT_TYPES
from producer.catalog import Product
from producer.customers import Customer
from producer.platforms import Platform
from producer.sampling import BITS, Table
from producer.sessions import CANCELLED, PURCHASE, Step
from producer.traffic import DAY_MS, OFFSET_MS

Record = tuple[bytes, bytes]
"""(Kafka key: the session id, value: the JSON event)."""
Context = tuple[bytes, bytes, bytes, bytes, bytes]
"""A session's shared parts: event id prefix, key, session fragment, city fragment, order id."""
Due = tuple[float, int, Step, Context]
"""A step waiting for its time: (ms since the epoch, number in its session, step, context)."""

#: "HH:MM:SS" of every second of a day: one lookup instead of three divisions and formats.
_CLOCK = tuple(
    b"%02d:%02d:%02d" % (second // 3600, second // 60 % 60, second % 60) for second in range(86_400)
)
#: The milliseconds, the offset and the key that follows them.
_MILLIS = tuple(b'.%03d+07:00","timestamp_unix":' % milli for milli in range(1000))
#: Event numbers within a session (the end of event_id) and the key that follows them.
_INDEXES = tuple(b'%04x","event_type":"' % index for index in range(4096))
_NO_PRODUCT = (
    b'"product_id":null,"product_name":null,"product_price_vnd":null,'
    b'"quantity":null,"line_total_vnd":null,"category":null,"brand":null,'
)
_NO_QUANTITY = b'"quantity":null,"line_total_vnd":null,'
_NO_EXTRAS = b'"search_query":null,"cart_total_vnd":null,"order_id":null,"payment_method":null,'
_EXTRAS = b'"search_query":%s,"cart_total_vnd":%s,"order_id":%s,"payment_method":%s,'
_NULL = b"null"


def _json(value: object) -> bytes:
    return orjson.dumps(value)


class RecordEncoder:
    """Turns a session's steps into time-stamped records; one per catalog and query list."""

    def __init__(
        self,
        products: Sequence[Product],
        queries: Sequence[str],
        payment_methods: Sequence[str],
    ) -> None:
        self.prices = [p.price_vnd for p in products]
        self.heads = [
            b'"product_id":%d,"product_name":%s,"product_price_vnd":%d,'
            % (p.id, _json(p.name), p.price_vnd)
            for p in products
        ]
        self.tails = [
            b'"category":%s,"brand":%s,' % (_json(p.category), _json(p.brand)) for p in products
        ]
        self.viewed = [h + _NO_QUANTITY + t for h, t in zip(self.heads, self.tails, strict=True)]
        self.queries = [_json(q) for q in queries]
        self.payments = [_json(m) for m in payment_methods]
        self.kinds = [b'%s","timestamp":"' % kind.encode() for kind in EVENT_TYPES]
        self.days: dict[int, bytes] = {}

    def day(self, local_day: int) -> bytes:
        """'YYYY-MM-DDT' of a local day number (days since 1970-01-01 in UTC+07:00)."""
        prefix = self.days.get(local_day)
        if prefix is None:
            date = datetime.fromtimestamp(local_day * 86_400, UTC).date()
            prefix = self.days[local_day] = f"{date.isoformat()}T".encode()
        return prefix

    @staticmethod
    def session(session_hex: bytes, session: bytes, city: bytes) -> Context:
        """What every event of a session shares; `session` and `city` come from `Visitors`."""
        return (
            b'{"event_id":"evt_' + session_hex,
            b"sess_" + session_hex,
            session,
            city,
            b'"ORD-%s"' % session_hex[:12].upper(),
        )

    def encode(self, due: Iterable[Due]) -> list[Record]:
        """Records of steps that are due, in the order given.

        Steps are encoded only when released, so the events of sessions in progress wait as
        small tuples rather than as 500-byte records, and each record is made just before use.
        """
        out = []
        days, kinds, prices, clock, millis = self.days, self.kinds, self.prices, _CLOCK, _MILLIS
        heads, tails, viewed = self.heads, self.tails, self.viewed
        payments, queries, indexes = self.payments, self.queries, _INDEXES
        join = b"".join
        for moment, index, step, (event_id, key, session, city, order) in due:
            at = int(moment)
            _, kind, product, quantity, total, query, payment = step
            day, rest = divmod(at + OFFSET_MS, DAY_MS)
            second, milli = divmod(rest, 1000)
            if product < 0:
                item = _NO_PRODUCT
            elif quantity:
                item = join(
                    (
                        heads[product],
                        b'"quantity":%d,"line_total_vnd":%d,'
                        % (quantity, prices[product] * quantity),
                        tails[product],
                    )
                )
            else:
                item = viewed[product]
            if total < 0 and query < 0 and payment < 0:
                extras = _NO_EXTRAS
            else:
                extras = _EXTRAS % (
                    _NULL if query < 0 else queries[query],
                    _NULL if total < 0 else b"%d" % total,
                    order if kind == PURCHASE or kind == CANCELLED else _NULL,
                    _NULL if payment < 0 else payments[payment],
                )
            value = join(
                (
                    event_id,
                    indexes[index] if index < 4096 else b'%04x","event_type":"' % index,
                    kinds[kind],
                    days.get(day) or self.day(day),
                    clock[second],
                    millis[milli],
                    b"%d," % at,
                    session,
                    item,
                    extras,
                    city,
                )
            )
            out.append((key, value))
        return out


class Visitors:
    """Who a session is, as record fragments: customer, platform, city, made once per pool."""

    def __init__(
        self,
        registered: Sequence[Customer],
        guests: Sequence[Customer],
        platforms: Sequence[tuple[Platform, float]],
    ) -> None:
        self.members = [b'"customer_id":%d,"is_guest":false,' % c.id for c in registered]
        self.cities = [b'"city":%s}' % _json(c.city) for c in registered]
        self.guest_cities = [b'"city":%s}' % _json(c.city) for c in guests]
        self.platforms = Table(
            [
                b'"source":%s,"device":%s,"browser":%s,' % tuple(_json(v) for v in platform)
                for platform, _ in platforms
            ],
            [share for _, share in platforms],
        ).slots

    def fragments(
        self, bits: Callable[[int], int], guest: bool, session_hex: bytes
    ) -> tuple[bytes, bytes]:
        """(session fragment, closing city fragment) of a new session, drawn with `bits`."""
        if guest:
            who = b'"customer_id":null,"is_guest":true,'
            city = self.guest_cities[bits(31) % len(self.guest_cities)]
        else:
            customer = bits(31) % len(self.members)
            who, city = self.members[customer], self.cities[customer]
        platform = self.platforms[bits(BITS)]
        return b'"session_id":"sess_%s",%s%s' % (session_hex, who, platform), city
