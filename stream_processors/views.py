"""What a worker serves over its Faust web server: its partitions' tables, live and rebuilt.

Each answer reports partitions as (log, partition) with the offset their totals reached, so a
reader asking several workers keeps, for each partition, the answer that went furthest: a
partition in the middle of moving between workers counts once. Table updates are visible here
as soon as a fetch is applied: the handler takes whatever one fetch brought, without waiting.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, Protocol, TypeVar

import faust
import orjson
from faust.web import Request, Response, View

from cartsim.events import EVENT_TYPES
from cartsim.stream_processors.aggregate import MINUTE_MS, minute_key, totals_key
from cartsim.stream_processors.state import AbandonedIndex

T = TypeVar("T")


class Source(Protocol):
    """Tables of one log: the live ones of this worker, or ones rebuilt from files."""

    log: str
    stores: dict[str, MutableMapping[bytes, bytes]]
    abandoned: AbandonedIndex

    @property
    def partitions(self) -> set[int]: ...


def state(sources: Sequence[Source]) -> dict[str, Any]:
    partitions = []
    for source in sources:
        for partition in sorted(source.partitions):
            raw = source.stores["totals"].get(totals_key(partition))
            if raw:
                partitions.append(
                    {
                        "log": source.log,
                        "partition": partition,
                        "totals": orjson.loads(raw),
                        "abandoned": source.abandoned.counts[partition],
                    }
                )
    return {"updated_ms": int(time.time() * 1000), "partitions": partitions}


def minutes(sources: Sequence[Source], start_ms: int, end_ms: int) -> dict[str, Any]:
    """Per-minute event counts by type in [start_ms, end_ms), per (log, partition)."""
    rows = []
    for source in sources:
        store = source.stores["minutes"]
        for partition in sorted(source.partitions):
            for minute in range(start_ms // MINUTE_MS, -(-end_ms // MINUTE_MS)):
                raw = store.get(minute_key(partition, minute))
                if raw:
                    window = orjson.loads(raw)
                    rows.append(
                        {"log": source.log, "partition": partition, "minute": minute, **window}
                    )
    return {"minutes": rows}


class Parsed:
    """Table values parsed once per stored value. A value is replaced, never changed in place,
    so whether a parse is current is whether the stored object is still the one parsed (held
    here, so its identity cannot pass to another). A partition's totals took 0.27 ms to parse
    (14 KB over 10 M events), and the views used to parse each several times per request."""

    _LIMIT = 200_000  # values kept; past it the cache starts over (expired minutes linger)

    def __init__(self) -> None:
        # by (log, key): keys differ across the tables read here (totals b"p3", minutes b"p3:7")
        self._parsed: dict[tuple[str, bytes], tuple[bytes, Any]] = {}

    def many(
        self,
        log: str,
        store: MutableMapping[bytes, bytes],
        keys: list[bytes],
        parse: Callable[[bytes], T],
    ) -> list[T]:
        """The parsed values of the keys the store holds, in order, in one loop (a six-hour
        range reads 1,440 minute values)."""
        parsed = self._parsed
        found = []
        for key, raw in zip(keys, map(store.get, keys), strict=True):
            if raw:
                cached = parsed.get((log, key))
                if cached is None or cached[0] is not raw:
                    if len(parsed) >= self._LIMIT:
                        parsed.clear()
                    cached = parsed[(log, key)] = (raw, parse(raw))
                found.append(cached[1])
        return found

    def offset(self, source: Source, partition: int) -> int:
        """The offset the partition's totals reached, -1 without totals."""
        found = self.many(source.log, source.stores["totals"], [totals_key(partition)], _offset)
        return found[0] if found else -1


def _offset(raw: bytes) -> int:
    return orjson.loads(raw)["o"]


def _minute_counts(raw: bytes) -> tuple[tuple[int, ...], dict[str, int]]:
    """A minute's counts as a tuple in `EVENT_TYPES` order, so a range is summed column by
    column in C (`zip`, `sum`), and the counts of any type the model does not know."""
    counts = orjson.loads(raw)["counts"]
    known = tuple(counts.get(kind, 0) for kind in EVENT_TYPES)
    return known, {k: v for k, v in counts.items() if k not in _KNOWN}


_KNOWN = frozenset(EVENT_TYPES)


def window(sources: Sequence[Source], start_ms: int, end_ms: int, parsed: Parsed) -> dict[str, Any]:
    """Events by type in the minutes that overlap [start_ms, end_ms), summed per (log,
    partition), with the offset the partition's totals reached so a reader can prefer the
    freshest owner: the answer stays small however long the range."""
    partitions = []
    for source in sources:
        store = source.stores["minutes"]
        for partition in sorted(source.partitions):
            offset = parsed.offset(source, partition)
            if offset < 0:
                continue
            minutes = range(start_ms // MINUTE_MS, -(-end_ms // MINUTE_MS))
            keys = [minute_key(partition, minute) for minute in minutes]
            values = parsed.many(source.log, store, keys, _minute_counts)
            rows = [known for known, _ in values]
            counts: dict[str, int] = {}
            for _, others in values:
                for kind, events in others.items():
                    counts[kind] = counts.get(kind, 0) + events
            if rows:
                columns = [sum(column) for column in zip(*rows, strict=True)]
                counts |= {kind: n for kind, n in zip(EVENT_TYPES, columns, strict=True) if n}
            partitions.append(
                {"log": source.log, "partition": partition, "o": offset, "counts": counts}
            )
    return {"partitions": partitions}


def abandoned(
    sources: Sequence[Source], limit: int, idle_before_ms: int, parsed: Parsed
) -> dict[str, Any]:
    """The `limit` most valuable carts idle since `idle_before_ms`, with their partition's
    offset so a reader can prefer the freshest owner."""
    found = []
    for source in sources:
        store = source.stores["abandoned"]
        for sid in source.abandoned.most_valuable(idle_before_ms, limit):
            raw = store.get(sid)
            if raw is not None:
                record = orjson.loads(raw)
                offset = parsed.offset(source, record["p"])
                found.append({**record, "log": source.log, "partition_offset": offset})
    items = heapq.nlargest(limit, found, key=lambda r: r["cart_value_vnd"])
    return {"items": items}


def _json(view: View, body: dict[str, Any]) -> Response:
    return view.bytes(orjson.dumps(body), content_type="application/json")


def _int(request: Request, name: str, default: int) -> int:
    value = request.query.get(name)
    return default if value is None else int(value)


def register(
    app: faust.App,
    sources: Callable[[], Sequence[Source]],
    clear: Callable[[dict[int, int]], Awaitable[dict[int, int]]],
) -> None:
    """Mount the views under /cartsim/ on the worker's web server."""
    parsed = Parsed()

    @app.page("/cartsim/replace")
    class ReplaceView(View):
        """POST {"high_watermarks": {partition: offset}}: clear our partitions for a replace."""

        async def post(self, request: Request) -> Response:
            try:
                body = orjson.loads(await request.read())
                marks = {int(p): int(o) for p, o in body["high_watermarks"].items()}
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
                return self.error(400, 'expected {"high_watermarks": {partition: offset}}')
            floors = await clear(marks)
            return _json(self, {"floors": {str(p): o for p, o in floors.items()}})

    @app.page("/cartsim/state")
    async def state_view(web: View, request: Request) -> Response:
        return _json(web, state(sources()))

    def _range(request: Request) -> tuple[int, int] | str:
        try:
            start, end = _int(request, "start_ms", 0), _int(request, "end_ms", 0)
        except ValueError:
            return "start_ms and end_ms must be integers"
        if end - start > 32 * 24 * 60 * MINUTE_MS:
            return "at most 32 days of minutes at a time"
        return start, end

    @app.page("/cartsim/minutes")
    async def minutes_view(web: View, request: Request) -> Response:
        span = _range(request)
        if isinstance(span, str):
            return web.error(400, span)
        return _json(web, minutes(sources(), *span))

    @app.page("/cartsim/window")
    async def window_view(web: View, request: Request) -> Response:
        span = _range(request)
        if isinstance(span, str):
            return web.error(400, span)
        return _json(web, window(sources(), *span, parsed))

    @app.page("/cartsim/abandoned")
    async def abandoned_view(web: View, request: Request) -> Response:
        try:
            limit, idle_before = _int(request, "limit", 50), _int(request, "idle_before_ms", 0)
        except ValueError:
            return web.error(400, "limit and idle_before_ms must be integers")
        return _json(web, abandoned(sources(), max(1, min(limit, 1000)), idle_before, parsed))
