"""A dead letter: a record of the events topic the worker could not take as a cart event.

The worker sends it to the dead-letter topic (`CARTSIM_DLQ_TOPIC`, default cart-events-dlq)
with the original value bytes unchanged as the record's value, its key, and this model in the
record's headers (as Kafka Connect's dead-letter queues do), so any Kafka client reads the
reason without parsing the bytes that could not be parsed. A record is identified by its
source partition and offset: after a crash a dead letter may be sent again (at least once).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_PREFIX = "cartsim.dlq."


class DeadLetter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(description="Why the record is not a cart event, in one line.")
    topic: str = Field(description="Topic the record was read from.")
    partition: int
    offset: int

    def headers(self) -> list[tuple[str, bytes]]:
        return [(_PREFIX + name, str(value).encode()) for name, value in self]

    @classmethod
    def from_headers(cls, headers: list[tuple[str, bytes]]) -> DeadLetter:
        fields = {k.removeprefix(_PREFIX): v.decode() for k, v in headers if k.startswith(_PREFIX)}
        return cls.model_validate(fields)
