"""What a correct pipeline reports for a clean stream, worked out by the worker's own aggregator.

The clean events are keyed onto partitions as the topic would place them and applied in stream
order, with the same rules (abandonment threshold, retention) as the worker, over plain dicts:
no broker, no Faust. The figures are those /cart/statistics serves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import orjson

from cartsim.producer.records import Record
from cartsim.stream_processors.aggregate import TABLE_NAMES, Aggregator, Event, Rules, put
from cartsim.truth import ExpectedFunnel, ExpectedResults

_MONEY = ("revenue_vnd", "orders", "cancelled_orders", "cancelled_vnd")
_CHUNK = 5_000  # events per partition applied at once, as a worker's fetch would


class ExpectedTally:
    """Feed clean records with `add`; `results` gives the expected figures of all fed so far."""

    def __init__(self, partition_of: Callable[[bytes], int], rules: Rules) -> None:
        self.partition_of = partition_of
        self.rules = rules
        self.tables: dict[str, dict[bytes, bytes]] = {name: {} for name in TABLE_NAMES}
        self.aggregator = Aggregator(self.tables, rules)  # type: ignore[arg-type]
        self.pending: dict[int, list[tuple[int, Event]]] = {}
        self.offsets: Counter[int] = Counter()

    def add(self, record: Record) -> None:
        partition = self.partition_of(record[0])
        pending = self.pending.setdefault(partition, [])
        pending.append((self.offsets[partition], orjson.loads(record[1])))
        self.offsets[partition] += 1
        if len(pending) >= _CHUNK:
            self._apply(partition)

    def _apply(self, partition: int) -> None:
        batch, self.pending[partition] = self.pending[partition], []
        if batch:
            put(self.tables, self.aggregator.apply(partition, batch)[0])  # type: ignore[arg-type]

    def results(self, injected: dict[str, int]) -> ExpectedResults:
        for partition in list(self.pending):
            self._apply(partition)
        sums: dict[str, Counter[str]] = {
            name: Counter() for name in ("event_type", "source", "device", "funnel")
        }
        money: Counter[str] = Counter()
        for raw in self.tables["totals"].values():
            totals = orjson.loads(raw)
            for name, counter in sums.items():
                counter.update(totals[name])
            money.update({k: totals[k] for k in _MONEY})
        funnel = sums["funnel"]
        return ExpectedResults(
            total_events=sum(sums["event_type"].values()),
            event_types=dict(sums["event_type"].most_common()),
            sources=dict(sums["source"].most_common()),
            devices=dict(sums["device"].most_common()),
            funnel=ExpectedFunnel(
                sessions=funnel["session"],
                viewed=funnel["viewed"],
                added_to_cart=funnel["added"],
                began_checkout=funnel["checkout"],
                purchased=funnel["purchased"],
            ),
            revenue_vnd=money["revenue_vnd"],
            orders=money["orders"],
            cancelled_orders=money["cancelled_orders"],
            cancelled_vnd=money["cancelled_vnd"],
            abandoned_sessions=len(self.tables["abandoned"]),
            abandon_after_s=self.rules.abandon_after_ms / 1000,
            injected=injected,
        )
