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
from pydantic import BaseModel, ValidationError

from cartsim.events import EVENT_TYPES
from cartsim.stream_processors.aggregate import (
    minute_key,
    served_cart,
    served_totals,
    totals_key,
)
from cartsim.stream_processors.state import AbandonedIndex
from cartsim.worker_views import (
    MINUTE_MS,
    AbandonedAnswer,
    AbandonedEntry,
    AbandonedQuery,
    PartitionTotals,
    PartitionWindow,
    ReplaceAnswer,
    ReplaceRequest,
    TotalsAnswer,
    ViewPath,
    WindowAnswer,
    WindowQuery,
    encode_answer,
)

T = TypeVar("T")
Q = TypeVar("Q", bound=BaseModel)


class Source(Protocol):
    """Tables of one log: the live ones of this worker, or ones rebuilt from files."""

    log: str
    stores: dict[str, MutableMapping[bytes, bytes]]
    abandoned: AbandonedIndex

    @property
    def partitions(self) -> set[int]: ...


def totals(sources: Sequence[Source], parsed: Parsed) -> TotalsAnswer:
    """The totals of every partition served, with its count of abandoned carts."""
    partitions = []
    for source in sources:
        for partition in sorted(source.partitions):
            found = parsed.totals(source, partition)
            if found is not None:
                count = source.abandoned.counts[partition]
                partitions.append(found.model_copy(update={"abandoned_carts": count}))
    return TotalsAnswer.model_construct(updated_ms=int(time.time() * 1000), partitions=partitions)


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

    def totals(self, source: Source, partition: int) -> PartitionTotals | None:
        """The partition's totals as the contract reads them, None before any."""
        log = source.log
        found = self.many(
            log,
            source.stores["totals"],
            [totals_key(partition)],
            lambda raw: served_totals(log, orjson.loads(raw)),
        )
        return found[0] if found else None

    def offset(self, source: Source, partition: int) -> int:
        """The offset the partition's totals reached, -1 without totals."""
        found = self.totals(source, partition)
        return -1 if found is None else found.offset


def _minute_counts(raw: bytes) -> tuple[tuple[int, ...], dict[str, int]]:
    """A minute's counts as a tuple in `EVENT_TYPES` order, so a range is summed column by
    column in C (`zip`, `sum`), and the counts of any type the model does not know."""
    counts = orjson.loads(raw)["counts"]
    known = tuple(counts.get(kind, 0) for kind in EVENT_TYPES)
    return known, {k: v for k, v in counts.items() if k not in _KNOWN}


_KNOWN = frozenset(EVENT_TYPES)


def window(sources: Sequence[Source], query: WindowQuery, parsed: Parsed) -> WindowAnswer:
    """Events by type in the minutes that overlap the query's range, summed per (log,
    partition), with the offset the partition's totals reached."""
    partitions = []
    for source in sources:
        store = source.stores["minutes"]
        for partition in sorted(source.partitions):
            offset = parsed.offset(source, partition)
            if offset < 0:
                continue
            minutes = range(query.start_ms // MINUTE_MS, -(-query.end_ms // MINUTE_MS))
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
                PartitionWindow.model_construct(
                    log=source.log, partition=partition, offset=offset, event_types=counts
                )
            )
    return WindowAnswer.model_construct(partitions=partitions)


def abandoned(sources: Sequence[Source], query: AbandonedQuery, parsed: Parsed) -> AbandonedAnswer:
    """The `limit` most valuable carts idle since `idle_before_ms`, with their partition's
    offset."""
    found: list[AbandonedEntry] = []
    for source in sources:
        store = source.stores["abandoned"]
        offsets = {partition: parsed.offset(source, partition) for partition in source.partitions}
        for sid in source.abandoned.most_valuable(query.idle_before_ms, query.limit):
            raw = store.get(sid)
            if raw is not None:
                record = orjson.loads(raw)
                found.append(served_cart(source.log, record, offsets.get(record["p"], -1)))
    items = heapq.nlargest(query.limit, found, key=lambda entry: entry["cart_value_vnd"])
    return AbandonedAnswer.model_construct(items=items)


def _json(view: View, body: BaseModel) -> Response:
    return view.bytes(encode_answer(body), content_type="application/json")


def _query(request: Request, model: type[Q]) -> Q | str:
    """The request's query as `model`, or why it is not one."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def register(
    app: faust.App,
    sources: Callable[[], Sequence[Source]],
    clear: Callable[[dict[int, int]], Awaitable[dict[int, int]]],
) -> None:
    """Mount the views of `ViewPath` on the worker's web server."""
    parsed = Parsed()

    @app.page(ViewPath.REPLACE)
    class ReplaceView(View):
        """Clear our partitions for a replace."""

        async def post(self, request: Request) -> Response:
            try:
                body = ReplaceRequest.model_validate_json(await request.read())
            except ValidationError as exc:
                return self.error(400, f"expected a ReplaceRequest: {exc}")
            floors = await clear(body.high_watermarks)
            return _json(self, ReplaceAnswer(floors=floors))

    @app.page(ViewPath.TOTALS)
    async def totals_view(web: View, request: Request) -> Response:
        return _json(web, totals(sources(), parsed))

    @app.page(ViewPath.WINDOW)
    async def window_view(web: View, request: Request) -> Response:
        query = _query(request, WindowQuery)
        if isinstance(query, str):
            return web.error(400, query)
        return _json(web, window(sources(), query, parsed))

    @app.page(ViewPath.ABANDONED)
    async def abandoned_view(web: View, request: Request) -> Response:
        query = _query(request, AbandonedQuery)
        if isinstance(query, str):
            return web.error(400, query)
        return _json(web, abandoned(sources(), query, parsed))
