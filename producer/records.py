"""Cart events as JSON bytes, assembled from fragments encoded once.

Serialising a 22-key dict with orjson costs more than simulating the event. Most of a record
never changes within a session (who, where, on what) or within a product (id, name, price,
category, brand), so those parts are encoded once with orjson, which also does the JSON string
escaping. A journey step carries the fragments that do not depend on time (its head: event
number and type; its body: product and cart fields); when its time comes the record is one
`bytes.join` of those, the session's fragments and the clock. Keys come in the order of
`cartsim.events.CartEvent`, public fields first; every key is present, null when not applicable.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import itemgetter

import orjson

from cartsim.events import EVENT_TYPES
from cartsim.producer.catalog import Product
from cartsim.producer.customers import Customer
from cartsim.producer.platforms import Platform
from cartsim.producer.sampling import BITS, weighted_slots
from cartsim.producer.traffic import DAY_MS, OFFSET_MS

KeyedEvent = tuple[bytes, bytes]
"""(Kafka key: the session id, value: the JSON event)."""
Session = tuple[bytes, bytes, bytes, bytes]
"""What every event of a session shares: event id prefix, key, session fragment, city fragment."""
Step = tuple[int, bytes, bytes, Session]
"""An event waiting for its time: (ms after its bucket's start, head, body, session)."""

#: "HH:MM:SS" of every second of a day: one lookup instead of three divisions and formats.
_CLOCK = tuple(
    b"%02d:%02d:%02d" % (second // 3600, second // 60 % 60, second % 60) for second in range(86_400)
)
#: The milliseconds, the offset and the key that follows them.
_MILLIS = tuple(b'.%03d+07:00","timestamp_unix":' % milli for milli in range(1000))
#: timestamp_unix is written as (its seconds' leading digits, their last four, its milliseconds)
#: from these tables: formatting a 13-digit int would be a tenth of all the work per event.
_FOUR = tuple(b"%04d" % number for number in range(10_000))
_THREE = tuple(b"%03d," % milli for milli in range(1000))
_NO_PRODUCT = (
    b'"product_id":null,"product_name":null,"product_price_vnd":null,'
    b'"quantity":null,"line_total_vnd":null,"category":null,"brand":null,'
)
_NO_QUANTITY = b'"quantity":null,"line_total_vnd":null,'
_NO_EXTRAS = b'"search_query":null,"cart_total_vnd":null,"order_id":null,"payment_method":null,'
_NULL = b"null"
_AT = itemgetter(0)
_CHECKOUT = b'"search_query":null,"cart_total_vnd":%d,"order_id":%s,"payment_method":%s,'
_GUEST = b'"customer_id":null,"is_guest":true,'


_EVENT_ID = b'{"event_id":"evt_'
_HEX = slice(len(_EVENT_ID), len(_EVENT_ID) + 16)


def session_key(value: bytes) -> bytes:
    """The Kafka key of an encoded event: its event id begins with its session's 16 hex digits."""
    return b"sess_" + value[_HEX]


def session_keys(values: list[bytes]) -> list[bytes]:
    """`session_key` of each encoded event, cut and joined in C."""
    return list(map(_SESS.__add__, map(_HEX_OF, values)))


_SESS = b"sess_"
_HEX_OF = itemgetter(_HEX)


def _json(value: object) -> bytes:
    return orjson.dumps(value)


class RecordEncoder:
    """Record fragments of one catalog, query list and payment methods, and the final assembly."""

    def __init__(
        self,
        products: Sequence[Product],
        queries: Sequence[str],
        payment_methods: Sequence[str],
    ) -> None:
        self.prices = [p.price_vnd for p in products]
        self.items = [
            b'"product_id":%d,"product_name":%s,"product_price_vnd":%d,'
            % (p.id, _json(p.name), p.price_vnd)
            for p in products
        ]
        self.labels = [
            b'"category":%s,"brand":%s,' % (_json(p.category), _json(p.brand)) for p in products
        ]
        #: Bodies of view_item and add_to_wish_list, by product.
        self.viewed = [
            item + _NO_QUANTITY + label + _NO_EXTRAS
            for item, label in zip(self.items, self.labels, strict=True)
        ]
        #: Bodies of search, by query.
        self.searched = [
            _NO_PRODUCT + b'"search_query":%s,"cart_total_vnd":null,"order_id":null,'
            b'"payment_method":null,' % _json(query)
            for query in queries
        ]
        #: Body of scroll and exit_page.
        self.bare = _NO_PRODUCT + _NO_EXTRAS
        self.payments = [_json(method) for method in payment_methods]
        #: Heads by event type, then by event number in the session.
        self.heads: list[list[bytes]] = [[] for _ in EVENT_TYPES]
        self.days: dict[int, bytes] = {}

    def heads_up_to(self, events: int) -> list[list[bytes]]:
        """Heads for sessions of up to `events` events: the event id's end and the event type."""
        for kind, heads in zip(EVENT_TYPES, self.heads, strict=True):
            heads.extend(
                b'%04x","event_type":"%s","timestamp":"' % (index, kind.encode())
                for index in range(len(heads), events)
            )
        return self.heads

    def cart(self, product: int, quantity: int, total: int) -> bytes:
        """Body of add_to_cart, update_quantity and remove_from_cart: the line and the cart."""
        return b"".join(
            (
                self.items[product],
                b'"quantity":%d,"line_total_vnd":%d,' % (quantity, self.prices[product] * quantity),
                self.labels[product],
                b'"search_query":null,"cart_total_vnd":%d,"order_id":null,"payment_method":null,'
                % total,
            )
        )

    def checkout(self, total: int, payment: int = -1, order: bytes = _NULL) -> bytes:
        """Body of a checkout event: the cart's total, the payment method, the order id."""
        method = _NULL if payment < 0 else self.payments[payment]
        return _NO_PRODUCT + _CHECKOUT % (total, order, method)

    @staticmethod
    def order_id(session: Session) -> bytes:
        """The order id of a session's purchase, from its session id."""
        return b'"ORD-%s"' % session[1][5:17].upper()

    def day(self, local_day: int) -> bytes:
        """'YYYY-MM-DDT' of a local day number (days since 1970-01-01 in UTC+07:00)."""
        prefix = self.days.get(local_day)
        if prefix is None:
            date = datetime.fromtimestamp(local_day * 86_400, UTC).date()
            prefix = self.days[local_day] = f"{date.isoformat()}T".encode()
        return prefix

    def encode(self, steps: Sequence[Step], low: int) -> list[KeyedEvent]:
        """Records of steps in time order, whose times are milliseconds after `low`.

        Steps are encoded only when released, so the events of sessions in progress wait as
        small tuples of shared fragments rather than as 500-byte records.
        """
        out: list[KeyedEvent] = []
        start = 0
        while start < len(steps):
            first = steps[start][0]
            local_day, since_midnight = divmod(low + first + OFFSET_MS, DAY_MS)
            midnight = first - since_midnight  # in ms after `low`
            end = bisect_left(steps, midnight + DAY_MS, start, key=_AT)
            whole = start == 0 and end == len(steps)
            out += self._encode_day(steps if whole else steps[start:end], low, local_day, midnight)
            start = end
        return out

    def _encode_day(
        self, steps: Sequence[Step], low: int, local_day: int, midnight: int
    ) -> list[KeyedEvent]:
        """Records of steps that all fall on one local day, which starts `midnight` ms after `low`.

        A comprehension, as its appends and one-element loops (plain assignments since Python
        3.9) cost less than a loop's method calls.
        """
        # Unix seconds at `second` after midnight: leads[(second + offset) // 10_000] followed by
        # _FOUR[(second + offset) % 10_000]; a day has 86,400 seconds, so ten leads suffice.
        lead, offset = divmod((low + midnight) // 1000, 10_000)
        leads = [b"%d" % (lead + step) for step in range(10)]
        day, clock, millis, four, three = self.day(local_day), _CLOCK, _MILLIS, _FOUR, _THREE
        join = b"".join
        return [
            (
                key,
                join(
                    (
                        event_id,
                        head,
                        day,
                        clock[second],
                        millis[milli],
                        leads[unix // 10_000],
                        four[unix % 10_000],
                        three[milli],
                        session,
                        body,
                        city,
                    )
                ),
            )
            for ms, head, body, (event_id, key, session, city) in steps
            for since in [ms - midnight]
            for second in [since // 1000]
            for milli in [since % 1000]
            for unix in [second + offset]
        ]


class Visitors:
    """Who a session is, as record fragments: customer, platform, city, made once per pool."""

    def __init__(
        self,
        registered: Sequence[Customer],
        guests: Sequence[Customer],
        platforms: Sequence[tuple[Platform, float]],
    ) -> None:
        ids = [c.id for c in registered if c.id is not None]  # every registered customer has one
        self.members = [b'"customer_id":%d,"is_guest":false,' % i for i in ids]
        self.cities = [b'"city":%s}' % _json(c.city) for c in registered]
        self.guest_cities = [b'"city":%s}' % _json(c.city) for c in guests]
        self.platforms = weighted_slots(
            [
                b'"source":%s,"device":%s,"browser":%s,' % tuple(_json(v) for v in platform)
                for platform, _ in platforms
            ],
            [share for _, share in platforms],
        )

    def session(self, bits: Callable[[int], int], guest: bool, session_hex: bytes) -> Session:
        """The shared fragments of a new session, its visitor drawn with `bits`."""
        if guest:
            who = _GUEST
            city = self.guest_cities[bits(31) % len(self.guest_cities)]
        else:
            customer = bits(31) % len(self.members)
            who, city = self.members[customer], self.cities[customer]
        platform = self.platforms[bits(BITS)]
        return (
            _EVENT_ID + session_hex,
            b"sess_" + session_hex,
            b"".join((b'"session_id":"sess_', session_hex, b'",', who, platform)),
            city,
        )
