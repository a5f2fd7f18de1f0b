"""The expected results of a clean stream agree with an independent recount of it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson

from cartsim.producer.expected import ExpectedTally
from cartsim.producer.partitions import partition_for
from cartsim.settings import Settings
from cartsim.stream_processors.aggregate import Rules
from tests.recount import recount
from tests.truth import assert_recounted


def test_expected_results_are_the_recount(raw_stream: list[tuple[bytes, bytes]]) -> None:
    """Abandoned carts are kept forever here: the recount knows no retention."""
    raw_stream = raw_stream[:60_000]
    tally = ExpectedTally(
        lambda key: partition_for(key, 4), Rules.of(Settings(abandoned_retention_s=2**52))
    )
    partitions: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in raw_stream:
        tally.add(record)
        partitions[partition_for(record[0], 4)].append(orjson.loads(record[1]))
    got = tally.results({"duplicate": 3})
    want = recount(partitions.values())
    assert got.total_events == 60_000 and got.injected == {"duplicate": 3}
    assert_recounted(got, want)
    assert len(want.abandoned) > 0
