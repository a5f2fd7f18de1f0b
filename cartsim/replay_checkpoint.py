"""The checkpoint file of `cartsim replay --resume`: how far a replay's target acknowledged.

Written by one replay process and read by a later one. A replay reads its source in the same
order every time, so a position (loop, events of that loop acknowledged) is enough to continue
without repeating what the target already has. `plan` is what both runs must agree on.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from cartsim.errors import CartsimError


class ReplayPlan(BaseModel):
    """The options that decide which events a replay sends, in which order, with which times."""

    source: str
    target: str
    from_ms: int | None = Field(
        default=None, description="A Kafka source is read from its records written since then."
    )
    start_ms: int | None = None
    end_ms: int | None = None
    event_types: list[str] = Field(default_factory=list)
    sample: float = 1.0
    seed: int = 0
    retime: str | None = Field(default=None, description="The --retime value as given.")
    loops: int | None = Field(default=1, description="Passes over the source; None: forever.")


class ReplayCheckpoint(BaseModel):
    version: Literal[1] = 1
    plan: ReplayPlan
    shift_ms: int | None = Field(
        default=None, description="Time added to loop 0's events (--retime), once known."
    )
    period_ms: int | None = Field(
        default=None, description="Time from one loop's start to the next, once loop 0 was read."
    )
    loop: int = Field(default=0, ge=0, description="The loop the target has acknowledged into.")
    index: int = Field(default=0, ge=0, description="Events of that loop acknowledged.")
    delivered: int = Field(default=0, ge=0, description="Events acknowledged over all runs.")
    finished: bool = False
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def save(self, path: Path) -> None:
        """Replace `path` atomically, so a crash leaves the previous checkpoint whole."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(self.model_dump_json(indent=2) + "\n")
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path) -> ReplayCheckpoint:
        try:
            return cls.model_validate_json(path.read_bytes())
        except OSError as exc:
            raise CartsimError(f"cannot read the checkpoint {path}: {exc.strerror}") from exc
        except ValidationError as exc:
            raise CartsimError(
                f"{path} is not a replay checkpoint: {exc.errors()[0]['msg']}"
            ) from exc
