"""Generation speed: placeholder until the realistic simulator lands (issue 4)."""

from __future__ import annotations

import time

import orjson

from bench.results import Result
from producer.journeys import events


def run() -> list[Result]:
    count = 200_000
    stream = events(seed=1)
    started = time.perf_counter()
    for _ in range(count):
        orjson.dumps(next(stream))
    rate = count / (time.perf_counter() - started)
    return [Result("generate + serialise (null sink)", rate, "events/s", ">= 500,000")]
