"""The published JSON Schema is the model's, and generated events satisfy it."""

from __future__ import annotations

from typing import Any

import jsonschema

from cartsim.producer.schema import SCHEMA_PATH, TRUTH_SCHEMA_PATH, schema_bytes


def test_the_committed_schema_is_the_generated_one() -> None:
    assert SCHEMA_PATH.read_bytes() == schema_bytes(), "run: python -m cartsim.producer.schema"


def test_generated_events_validate_against_the_schema(stream: list[dict[str, Any]]) -> None:
    import orjson

    validator = jsonschema.Draft202012Validator(orjson.loads(SCHEMA_PATH.read_bytes()))
    kinds_seen = set()
    for event in stream[::50] + [e for e in stream if e["event_type"] == "purchase"][:200]:
        validator.validate(event)
        kinds_seen.add(event["event_type"])
    assert len(kinds_seen) >= 10


def test_the_schema_rejects_a_bad_event(stream: list[dict[str, Any]]) -> None:
    import orjson

    validator = jsonschema.Draft202012Validator(orjson.loads(SCHEMA_PATH.read_bytes()))
    assert not validator.is_valid({**stream[0], "quantity": 0})
    assert not validator.is_valid({k: v for k, v in stream[0].items() if k != "session_id"})


def test_the_committed_truth_schema_is_the_generated_one() -> None:
    assert TRUTH_SCHEMA_PATH.read_bytes() == schema_bytes(TRUTH_SCHEMA_PATH), (
        "run: python -m cartsim.producer.schema"
    )
