"""A source's line as an event to replay, or the reason it is not one.

Every line is checked against the whole contract of `cartsim.events` (each field present and of
its type, enumerated fields among their values, minimums kept, no unknown field) by one msgspec
decode into a struct made from `EVENT_FIELDS`: it builds no dict and is about twice as fast as
parsing the line with orjson alone. The bytes are passed on unchanged unless the event is
re-timed. A line that fails is decoded again, slowly, only to say why in plain words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import orjson

from cartsim.errors import CartsimError
from cartsim.events import EVENT_FIELDS, EVENT_TYPES, PUBLIC_FIELDS, CartEvent, EventField

_PUBLIC = frozenset(PUBLIC_FIELDS)
_ALL = frozenset(CartEvent.model_fields)
_TYPES = frozenset(EVENT_TYPES)
#: Invalid lines quoted in the final report.
_EXAMPLES = 5


class Event(msgspec.Struct, frozen=True, gc=False):
    """One event on its way: its time (ms), Kafka key (the session id), JSON and type.

    The parsed fields are not kept: they would cost memory and the garbage collector more than
    parsing again the few events that are re-timed. A struct, not a named tuple: it is made once
    per event and costs a fifth as much to make.
    """

    ts: int
    key: bytes
    value: bytes
    event_type: str


def _annotation(field: EventField) -> Any:
    # `timestamp` stays text: it is passed on as written, and re-timing keeps its UTC offset.
    kind: Any = Literal[field.choices] if field.choices else field.type
    if kind is datetime:
        kind = str
    if field.minimum is not None:
        kind = Annotated[kind, msgspec.Meta(ge=field.minimum)]
    return kind | None if field.nullable else kind


_Contract = msgspec.defstruct(
    "_Contract",
    [
        (field.name, _annotation(field)) if field.public else (field.name, _annotation(field), None)
        for field in sorted(EVENT_FIELDS, key=lambda field: not field.public)
    ],
    forbid_unknown_fields=True,
    gc=False,
)
_decode: Callable[[bytes], Any] = msgspec.json.Decoder(_Contract).decode


def _some(names: Iterable[str]) -> str:
    first = sorted(names)
    return ", ".join(first[:3]) + (f" and {len(first) - 3} more" if len(first) > 3 else "")


def _problem(line: bytes, error: msgspec.MsgspecError) -> str:
    """Why `line` is not an event, in the words of the common cases, else msgspec's."""
    try:
        fields = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"not JSON ({exc})"
    if type(fields) is not dict:
        return "not a JSON object"
    keys = fields.keys()
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
    return str(error)


def decode(line: bytes) -> Event | str:
    """The event on `line`, or why it is not a valid one."""
    try:
        fields = _decode(line)
    except msgspec.MsgspecError as exc:
        return _problem(line, exc)
    return Event(fields.timestamp_unix, fields.session_id.encode(), line, fields.event_type)


def decode_lines(lines: list[bytes], where: str, rejects: Rejects, first: int = 1) -> list[Event]:
    """The valid events of `lines`; the others are given to `rejects` as `where` line N."""
    events: list[Event] = []
    append = events.append
    failed = 0  # so a line's number is known without counting every line
    for line in lines:
        try:
            fields = _decode(line)
        except msgspec.MsgspecError as exc:
            rejects.add(f"{where} line {first + len(events) + failed}", _problem(line, exc))
            failed += 1
            continue
        append(Event(fields.timestamp_unix, fields.session_id.encode(), line, fields.event_type))
    return events


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
