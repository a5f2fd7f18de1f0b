"""The HTTP target: batched POSTs of JSON lines, retried through 500, 429 and dropped
connections, delivered at least once, and a bounded, readable give-up."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from cartsim.producer.targets import HttpOptions, HttpTarget, OutputError
from tests.producer.collector import Collector, serving

RECORDS = [(b"sess_%d" % (n % 7), b'{"n":%d}' % n) for n in range(1_000)]


async def deliver(collector: Collector, options: HttpOptions, calls: int = 2) -> HttpTarget:
    async with serving(collector):
        async with HttpTarget(collector.url, options) as target:
            size = len(RECORDS) // calls
            for start in range(0, len(RECORDS), size):
                assert await target.send(RECORDS[start : start + size]) == size
    return target


def test_every_event_arrives_through_failures_duplicates_only_where_unknown() -> None:
    script = ["ok", "500", "drop", "429", "ok", "500", "500", "drop", "ok", "503", "drop"]
    collector = Collector(script, retry_after="0")
    options = HttpOptions(batch_size=100, concurrency=3, headers={"X-Replay": "yes"})
    target = asyncio.run(deliver(collector, options))
    assert target.sent == len(RECORDS)
    counts = Counter(collector.events())
    assert set(counts) == {value for _, value in RECORDS}  # none lost
    unknown = {line for batch in collector.dropped for line in batch}
    assert len(collector.dropped) == 3 and unknown
    assert {line for line, n in counts.items() if n > 1} <= unknown
    assert all(h["Content-Type"] == "application/x-ndjson" for h in collector.headers)
    assert all(h["X-Replay"] == "yes" for h in collector.headers)
    assert all(len(batch) == 100 for batch in collector.accepted)


def test_retry_after_is_waited_for() -> None:
    collector = Collector(["429", "ok"], retry_after="1")
    asyncio.run(deliver(collector, HttpOptions(batch_size=1_000, concurrency=1), calls=1))
    (first, _, line), (second, _, again) = collector.log
    assert line == again and second - first >= 1.0


def test_a_server_that_keeps_failing_is_given_up_on_with_the_count_delivered() -> None:
    collector = Collector(["ok"] + ["503"] * 1_000)
    options = HttpOptions(batch_size=500, concurrency=1, retry_for_s=0.5)
    with pytest.raises(
        OutputError, match=r"gave up on .* \(last: HTTP 503\); 500 events delivered"
    ):
        asyncio.run(deliver(collector, options, calls=1))
    assert len(collector.log) > 2  # retried before giving up


def test_a_refused_batch_stops_at_once_with_the_reason() -> None:
    collector = Collector(["400"])
    with pytest.raises(OutputError, match="refused a batch with HTTP 400: scripted 400"):
        asyncio.run(deliver(collector, HttpOptions(retry_for_s=30)))
    assert len(collector.log) == 1


def test_an_unreachable_endpoint_is_given_up_on() -> None:
    async def send() -> None:
        async with HttpTarget("http://127.0.0.1:9/events", HttpOptions(retry_for_s=0.3)) as t:
            await t.send(RECORDS[:10])

    with pytest.raises(OutputError, match=r"gave up on http://127.0.0.1:9/events .*0 events"):
        asyncio.run(send())
