"""`OUT/_manifest.json`: read and checked before a run, written (atomically) after it."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
from pydantic import ValidationError

from cartsim.analytics import MANIFEST_NAME, SCHEMA_VERSION, TABLES, TransformManifest
from cartsim.errors import CartsimError


def load(out: Path, window: tuple[int | None, int | None]) -> TransformManifest | None:
    """The manifest of `out`, or None for a new one; refuses tables this version cannot extend."""
    path = out / MANIFEST_NAME
    if not path.exists():
        present = [name for name in TABLES if (out / name).exists()]
        if present:
            raise CartsimError(
                f"{out} holds a {present[0]}/ folder but no {MANIFEST_NAME}: not tables of "
                "`cartsim transform`; choose another --out"
            )
        return None
    try:
        body = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise CartsimError(f"{path} is not a manifest of `cartsim transform`: {exc}") from exc
    version = body.get("schema_version") if isinstance(body, dict) else None
    if version != SCHEMA_VERSION:
        raise CartsimError(
            f"{out} holds tables of schema version {version}; this cartsim writes "
            f"version {SCHEMA_VERSION}: choose another --out, or delete it to rebuild"
        )
    try:
        manifest = TransformManifest.model_validate(body)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise CartsimError(f"{path} is not a manifest of `cartsim transform`: {reason}") from exc
    if (manifest.start_ms, manifest.end_ms) != window:
        raise CartsimError(
            f"{out} was built for another --start/--end window: use the same one, or another --out"
        )
    return manifest


def save(out: Path, manifest: TransformManifest) -> None:
    path = out / MANIFEST_NAME
    temporary = path.with_suffix(".tmp")
    with temporary.open("wb") as file:
        file.write(manifest.model_dump_json(indent=2).encode())
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
