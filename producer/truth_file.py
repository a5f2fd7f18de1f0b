"""Sending a faulty stream while writing its truth file (`cartsim.truth` has the line models).

`FaultySender` stands between `emit` and a target: it sends the records of (record, fault) pairs
and, once the target has taken them, writes a line per fault with its partition, its position in
the stream and the time. The clean events reach an `ExpectedTally` in stream order (through the
injector's `on_clean`); closing writes the expected results as the last line.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from cartsim.errors import CartsimError
from cartsim.producer.expected import ExpectedTally
from cartsim.producer.faults import Outgoing
from cartsim.producer.records import KeyedEvent
from cartsim.truth import InjectedFault, TruthRun


class _Target(Protocol):
    async def send(self, records: Iterable[KeyedEvent]) -> int: ...


class TruthFile:
    """The JSON-lines truth file: a run line first, fault lines as sent, expected results last."""

    def __init__(self, path: Path, run: TruthRun, tally: ExpectedTally) -> None:
        self.path = path
        self.tally = tally
        self.injected: Counter[str] = Counter()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.file: BinaryIO = path.open("wb")
        except OSError as exc:
            raise CartsimError(f"cannot write the truth file {path}: {exc.strerror}") from exc
        self._line(run.model_dump_json())

    def fault(self, line: InjectedFault) -> None:
        self.injected[line.fault] += 1
        self._line(line.model_dump_json(exclude_none=True))

    def close(self, failed: bool = False) -> None:
        """End with the expected results of every clean event sent, unless the run failed:
        a stream that was not wholly delivered has no exact answer."""
        if not failed:
            self._line(self.tally.results(dict(self.injected)).model_dump_json())
        self.file.close()

    def _line(self, text: str) -> None:
        self.file.write(text.encode() + b"\n")


class FaultySender:
    """`emit`'s sender for (record, fault) pairs: records to the target, faults to the truth."""

    def __init__(
        self, target: _Target, partition_of: Callable[[bytes], int], truth: TruthFile | None
    ) -> None:
        self.target = target
        self.partition_of = partition_of
        self.truth = truth
        self.sequence = 0

    async def send(self, items: Iterable[Outgoing]) -> int:
        batch = list(items)
        sent = await self.target.send([record for record, _ in batch])
        if self.truth is not None:
            now = datetime.now(UTC)
            for index, ((key, value), fault) in enumerate(batch, self.sequence):
                if fault is None:
                    continue
                malformed = fault.kind == "malformed"
                self.truth.fault(
                    InjectedFault(
                        fault=fault.kind,
                        event_id=fault.event_id,
                        sha256=hashlib.sha256(value).hexdigest() if malformed else None,
                        malformed=fault.malformed,
                        delay_ms=fault.delay_ms,
                        partition=self.partition_of(key),
                        sequence=index,
                        sent_at=now,
                    )
                )
        self.sequence += len(batch)
        return sent
