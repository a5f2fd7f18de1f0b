"""A generator process: buckets in on stdin, their events out on stdout (`cartsim.generation`)."""

from __future__ import annotations

from typing import BinaryIO

from pydantic import TypeAdapter

from cartsim.generation import BucketDone, BucketJob, GeneratorSetup
from cartsim.producer.catalog import Product
from cartsim.producer.config import JourneyConfig
from cartsim.producer.shop import Shop


def serve(jobs: BinaryIO, answers: BinaryIO) -> None:
    """Answer jobs until `jobs` ends."""
    setup = GeneratorSetup.model_validate_json(jobs.readline())
    config = TypeAdapter(JourneyConfig).validate_python(setup.config)
    shop = Shop(setup.seed, [Product(**row) for row in setup.products], config)
    for line in jobs:
        events = shop.bucket(BucketJob.model_validate_json(line))
        done = BucketDone(events=len(events), data_bytes=len(events.data))
        answers.write(done.model_dump_json().encode() + b"\n")
        answers.write(events.stamps)
        answers.write(events.lengths)
        answers.write(events.data)
        answers.flush()
