"""The published JSON Schema of a cart event, generated from the one model in cartsim/events.py.

`python -m cartsim.producer.schema` rewrites schemas/cart_event.schema.json; a test fails when the
committed file and the model drift apart.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from cartsim.events import CartEvent

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "cart_event.schema.json"


def schema_bytes() -> bytes:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **CartEvent.model_json_schema(),
    }
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_bytes(schema_bytes())
    print(f"wrote {SCHEMA_PATH}")
