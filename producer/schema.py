"""The published JSON Schemas, generated from the models in the shared package.

A cart event (cartsim/events.py) and a line of a truth file (cartsim/truth.py).
`python -m cartsim.producer.schema` rewrites schemas/*.schema.json; a test fails when a
committed file and its model drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from cartsim.events import CartEvent
from cartsim.truth import truth_line

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_PATH = SCHEMA_DIR / "cart_event.schema.json"
TRUTH_SCHEMA_PATH = SCHEMA_DIR / "truth_line.schema.json"
SCHEMAS: dict[Path, Callable[[], dict[str, Any]]] = {
    SCHEMA_PATH: CartEvent.model_json_schema,
    TRUTH_SCHEMA_PATH: truth_line.json_schema,
}


def schema_bytes(path: Path = SCHEMA_PATH) -> bytes:
    """The schema that belongs at `path`, as it is committed."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **SCHEMAS[path]()}
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n"


if __name__ == "__main__":
    for path in SCHEMAS:
        path.write_bytes(schema_bytes(path))
        print(f"wrote {path}")
