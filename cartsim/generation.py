"""What `cartsim produce` says to its generator processes, and what they answer.

The producer splits simulated time into buckets; a generator process simulates the sessions that
start in the buckets it is given and answers each with the events of those sessions, encoded.
On a generator's standard input come one `GeneratorSetup` line, then one `BucketJob` line per
bucket; on its standard output, per job in order, one `BucketDone` line followed by the event
times, the line lengths (each `events` signed 64-bit ints, native byte order) and the JSON lines.
A generator ends when its standard input closes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class GeneratorSetup(BaseModel):
    """Everything a generator needs once: the run's seed, journey parameters and catalog."""

    model_config = ConfigDict(frozen=True)

    seed: int
    #: The journey parameters (`JourneyConfig` as a dict).
    config: dict[str, Any]
    #: The catalog's products (`Product` as dicts), in catalog order.
    products: list[dict[str, Any]]


class BucketJob(BaseModel):
    """One bucket of simulated time: simulate sessions starting in [low_ms, high_ms) until about
    `budget` events are made (`at_least`: until at least `budget`)."""

    model_config = ConfigDict(frozen=True)

    #: Place of the bucket in the stream: with the seed it decides every draw of its sessions.
    index: int = Field(ge=0)
    low_ms: int
    high_ms: int
    budget: int = Field(ge=0)
    at_least: bool = False
    #: Sessions are moved or squeezed to end before this time (backfill and batch).
    until_ms: int | None = None
    #: Events before this time are simulated but not sent (the warm-up of live mode).
    since_ms: int | None = None


class BucketDone(BaseModel):
    """The header of one job's answer: how many events and JSON-line bytes follow it."""

    model_config = ConfigDict(frozen=True)

    events: int = Field(ge=0)
    data_bytes: int = Field(ge=0)
