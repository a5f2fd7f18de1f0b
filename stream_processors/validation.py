"""Whether a record of the events topic is a cart event the tables can take, and if not why.

A hand-written check of what the aggregator reads, not the pydantic model: about 1 µs an event
against several for `CartEvent.model_validate_json`, on the worker's hottest path. It checks
size, JSON, every public field's presence and JSON type, and the closed vocabularies
(event_type, source, device) of `cartsim.events`.
"""

from __future__ import annotations

from typing import Any

import orjson

from cartsim.events import DEVICES, EVENT_TYPES, PUBLIC_FIELDS, SOURCES

_INT, _STR, _BOOL, _NULL = (int,), (str,), (bool,), (type(None),)
#: JSON types each public field (and cart_total_vnd, which revenue sums) may have.
_TYPES: dict[str, tuple[type, ...]] = {
    "event_id": _STR,
    "event_type": _STR,
    "timestamp": _STR,
    "timestamp_unix": _INT,
    "session_id": _STR,
    "customer_id": _INT + _NULL,
    "is_guest": _BOOL,
    "source": _STR,
    "device": _STR,
    "browser": _STR,
    "product_id": _INT + _NULL,
    "product_name": _STR + _NULL,
    "product_price_vnd": _INT + _NULL,
    "quantity": _INT + _NULL,
    "line_total_vnd": _INT + _NULL,
}
assert tuple(_TYPES) == PUBLIC_FIELDS
_OPTIONAL = {"cart_total_vnd": _INT + _NULL}
_VOCABULARY = {
    "event_type": frozenset(EVENT_TYPES),
    "source": frozenset(SOURCES),
    "device": frozenset(DEVICES),
}


def check(raw: bytes, max_bytes: int) -> tuple[dict[str, Any] | None, str | None]:
    """(the event, None), or (None, the reason it is not one)."""
    if len(raw) > max_bytes:
        return None, f"oversized: {len(raw)} bytes, more than {max_bytes}"
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, f"not JSON: {exc}"
    if type(event) is not dict:
        return None, f"not a JSON object but {type(event).__name__}"
    for name, allowed in _TYPES.items():
        value = event.get(name, KeyError)
        if value is KeyError:
            return None, f"missing field {name}"
        if type(value) not in allowed:
            return None, f"{name} is {type(value).__name__}, not {_names(allowed)}"
    for name, allowed in _OPTIONAL.items():
        if type(event.get(name)) not in allowed:
            return None, f"{name} is {type(event[name]).__name__}, not {_names(allowed)}"
    for name, known in _VOCABULARY.items():
        if event[name] not in known:
            return None, f"unknown {name} {event[name]!r}"
    return event, None


def _names(types: tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)
