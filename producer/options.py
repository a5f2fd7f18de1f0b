"""Option values of `cartsim produce`, parsed for click so a bad value is a one-line error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import click

from cartsim.producer.traffic import VIETNAM


@dataclass(frozen=True)
class Destination:
    """Where events go: `kind` is kafka, stdout or file (then `path` is set)."""

    kind: str
    path: Path | None = None


def destination(ctx: click.Context, param: click.Parameter, value: str) -> Destination:
    """`kafka`, `stdout` or `file:PATH`."""
    if value in ("kafka", "stdout"):
        return Destination(value)
    if value.startswith("file:") and value[5:]:
        return Destination("file", Path(value[5:]))
    raise click.BadParameter(f"{value!r}: use kafka, stdout or file:PATH", ctx, param)


def moment(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO 8601 date or time; without a UTC offset it is Asia/Ho_Chi_Minh time."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 date or time, e.g. 2024-11-01 or 2024-11-11T20:00",
            ctx,
            param,
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=VIETNAM)
