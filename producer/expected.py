"""What a correct pipeline reports for a clean stream, worked out by the worker's own aggregator.

The clean events are keyed onto partitions as the topic would place them and applied in stream
order, with the same rules (abandonment threshold, retention) as the worker, over plain dicts:
no broker, no Faust. The figures are those /cart/statistics serves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import orjson

from cartsim.producer.records import KeyedEvent
from cartsim.stream_processors.aggregate import (
    TABLE_NAMES,
    Aggregator,
    Event,
    Rules,
    put,
    served_totals,
)
from cartsim.truth import ExpectedFunnel, ExpectedResults
from cartsim.worker_views import FunnelCounts

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

    def add(self, record: KeyedEvent) -> None:
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
        partitions = [
            served_totals("", orjson.loads(raw)) for raw in self.tables["totals"].values()
        ]
        kinds, sources, devices = Counter[str](), Counter[str](), Counter[str]()
        for totals in partitions:
            kinds.update(totals.event_types)
            sources.update(totals.sources)
            devices.update(totals.devices)
        funnel = FunnelCounts.total(totals.funnel for totals in partitions)
        return ExpectedResults(
            total_events=sum(kinds.values()),
            event_types=dict(kinds.most_common()),
            sources=dict(sources.most_common()),
            devices=dict(devices.most_common()),
            funnel=ExpectedFunnel(
                sessions=funnel.session,
                viewed=funnel.viewed,
                added_to_cart=funnel.added,
                began_checkout=funnel.checkout,
                purchased=funnel.purchased,
            ),
            revenue_vnd=sum(totals.revenue_vnd for totals in partitions),
            orders=sum(totals.orders for totals in partitions),
            cancelled_orders=sum(totals.cancelled_orders for totals in partitions),
            cancelled_vnd=sum(totals.cancelled_vnd for totals in partitions),
            abandoned_sessions=len(self.tables["abandoned"]),
            abandon_after_s=self.rules.abandon_after_ms / 1000,
            injected=injected,
        )
