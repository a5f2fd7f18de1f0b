"""A source's line as an event to replay, or the reason it is not one.

Replay passes each event's bytes on unchanged unless it re-times it, so it checks what it relies
on and what a consumer of the contract would trip over, without a full model validation (four
times the cost of parsing): a JSON object holding every public field of `cartsim.events` and no
unknown field, a known `event_type`, string ids, an integer `timestamp_unix` and a string
`timestamp`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import orjson

from cartsim.errors import CartsimError
from cartsim.events import EVENT_TYPES, PUBLIC_FIELDS, CartEvent

_PUBLIC = frozenset(PUBLIC_FIELDS)
_ALL = frozenset(CartEvent.model_fields)
_TYPES = frozenset(EVENT_TYPES)
#: Invalid lines quoted in the final report.
_EXAMPLES = 5


class Event(NamedTuple):
    """One event on its way: its time (ms), Kafka key (the session id), JSON and type.

    The parsed fields are not kept: a chunk of 50,000 dicts costs the garbage collector more
    than parsing again the few events that are re-timed.
    """

    ts: int
    key: bytes
    value: bytes
    event_type: str


def _some(names: Iterable[str]) -> str:
    first = sorted(names)
    return ", ".join(first[:3]) + (f" and {len(first) - 3} more" if len(first) > 3 else "")


def _problem(fields: Any) -> str | None:
    if type(fields) is not dict:
        return "not a JSON object"
    keys = fields.keys()
    if keys != _ALL:
        if missing := _PUBLIC - keys:
            return f"missing {_some(missing)}"
        if unknown := keys - _ALL:
            return f"unknown field {_some(unknown)}"
    if fields["event_type"] not in _TYPES:
        return f"unknown event_type {fields['event_type']!r}"
    for name in ("event_id", "session_id", "timestamp"):
        if type(fields[name]) is not str:
            return f"{name} is not a string"
    if type(fields["timestamp_unix"]) is not int:
        return "timestamp_unix is not an integer"
    return None


def decode(line: bytes) -> Event | str:
    """The event on `line`, or why it is not a valid one."""
    try:
        fields = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"not JSON ({exc})"
    problem = _problem(fields)
    if problem is not None:
        return problem
    return Event(
        fields["timestamp_unix"], fields["session_id"].encode(), line, fields["event_type"]
    )


class InvalidEventError(CartsimError):
    """A line of the source is not a valid event, and the replay is `--strict`."""


class Rejects:
    """Lines that were not valid events: counted, a few quoted, or fatal when `strict`."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.count = 0
        self.examples: list[str] = []

    def add(self, where: str, reason: str) -> None:
        if self.strict:
            raise InvalidEventError(f"{where} is not a valid event: {reason} (--strict)")
        self.count += 1
        if len(self.examples) < _EXAMPLES:
            self.examples.append(f"{where}: {reason}")
