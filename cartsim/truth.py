"""The truth file of a faulty stream: what was injected, and what a correct pipeline reports.

`cartsim produce --truth PATH` and `cartsim replay --truth PATH` write JSON lines: one
`TruthRun` (the options), one `InjectedFault` per fault as it is sent, and last one
`ExpectedResults`, the figures of the clean stream (every generated or replayed event once, in
the order it was handed to the injector). A consumer under test checks itself against it;
schemas/truth_line.schema.json is the JSON Schema of a line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

FaultKind = Literal["duplicate", "late", "reorder", "malformed"]
MalformedKind = Literal[
    "truncated_json", "wrong_type", "missing_field", "unknown_event_type", "oversized"
]


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FaultOptions(_Line):
    """Fractions of the clean events that each fault touches, and the late delay's mean."""

    duplicates: float = Field(default=0.0, ge=0, le=1, description="Events sent a second time.")
    late: float = Field(default=0.0, ge=0, le=1, description="Events held back in event time.")
    late_delay_ms: int = Field(default=0, ge=0, description="Mean event-time delay of a late one.")
    reorder: float = Field(
        default=0.0, ge=0, le=1, description="Events sent after their session's next event."
    )
    malformed: float = Field(
        default=0.0, ge=0, le=1, description="Events followed by a corrupted copy."
    )

    @property
    def active(self) -> bool:
        return any((self.duplicates, self.late, self.reorder, self.malformed))


class TruthRun(_Line):
    """The first line: how the stream was made."""

    kind: Literal["run"] = "run"
    seed: int
    faults: FaultOptions
    partitions: int = Field(description="Partitions the events were keyed onto.")
    started_at: datetime


class InjectedFault(_Line):
    """One fault, written when its record was sent."""

    kind: Literal["fault"] = "fault"
    fault: FaultKind
    event_id: str = Field(
        description="The event the fault is about (for malformed: the event it was copied from)."
    )
    sha256: str | None = Field(
        default=None, description="Malformed only: hex SHA-256 of the record's value bytes."
    )
    malformed: MalformedKind | None = None
    delay_ms: int | None = Field(default=None, description="Late only: event time held back.")
    partition: int
    sequence: int = Field(description="Position of the record in the sent stream, from 0.")
    sent_at: datetime


class ExpectedFunnel(_Line):
    sessions: int
    viewed: int
    added_to_cart: int
    began_checkout: int
    purchased: int


class ExpectedResults(_Line):
    """The last line: what /cart/statistics of a correct pipeline reports for the clean stream."""

    kind: Literal["expected"] = "expected"
    total_events: int
    event_types: dict[str, int]
    sources: dict[str, int]
    devices: dict[str, int]
    funnel: ExpectedFunnel
    revenue_vnd: int
    orders: int
    cancelled_orders: int
    cancelled_vnd: int
    abandoned_sessions: int = Field(
        description="Carts idle abandon_after_s of event time at the end, without a purchase."
    )
    abandon_after_s: float
    injected: dict[str, int] = Field(description="Faults injected, by kind.")


TruthLine = Annotated[TruthRun | InjectedFault | ExpectedResults, Field(discriminator="kind")]
truth_line = TypeAdapter(TruthLine)
