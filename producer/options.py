"""Option values of `cartsim produce` and `cartsim replay`, parsed for click so that a bad
value is a one-line error."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

from cartsim.moments import parse_moment
from cartsim.truth import FaultOptions

#: Kafka's legal topic names.
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class KafkaAddress:
    """A topic on a cluster, from `kafka://HOST:PORT[,HOST:PORT...]/TOPIC`."""

    bootstrap: str
    topic: str

    def __str__(self) -> str:
        return f"kafka://{self.bootstrap}/{self.topic}"


def kafka_address(value: str) -> KafkaAddress:
    """Parse `kafka://HOST:PORT/TOPIC`; ValueError saying what is wrong."""
    rest = value.removeprefix("kafka://")
    servers, _, topic = rest.partition("/")
    if not all(_HOST_PORT.match(server) for server in servers.split(",")):
        raise ValueError(f"{value!r}: use kafka://HOST:PORT/TOPIC")
    if not _TOPIC.match(topic):
        raise ValueError(f"{value!r}: {topic!r} is not a Kafka topic name")
    return KafkaAddress(servers, topic)


@dataclass(frozen=True)
class Destination:
    """Where events go: `kind` is kafka, http, stdout or file.

    `kafka` alone is the configured cluster and topic (`address` None); `http` has `url`,
    `file` has `path`.
    """

    kind: str
    path: Path | None = None
    address: KafkaAddress | None = None
    url: str | None = None

    def __str__(self) -> str:
        return str(self.address or self.url or self.path or self.kind)


def destination(ctx: click.Context, param: click.Parameter, value: str) -> Destination:
    """`kafka`, `kafka://HOST:PORT/TOPIC`, `http(s)://URL`, `stdout` or `file:PATH`."""
    if value in ("kafka", "stdout"):
        return Destination(value)
    if value.startswith("file:") and value[5:]:
        return Destination("file", path=Path(value[5:]))
    try:
        if value.startswith("kafka://"):
            return Destination("kafka", address=kafka_address(value))
        if value.startswith(("http://", "https://")):
            return Destination("http", url=http_url(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    raise click.BadParameter(
        f"{value!r}: use kafka, kafka://HOST:PORT/TOPIC, http(s)://URL, stdout or file:PATH",
        ctx,
        param,
    )


def http_url(value: str) -> str:
    """`value` if it is an http(s) URL with a host (and a valid port)."""
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid URL: {exc}") from None
    if not parts.hostname:
        raise ValueError(f"{value!r} is not a valid URL: it has no host")
    return value


def moment(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An instant in the REST API's syntax (`cartsim.moments`)."""
    if value is None:
        return None
    try:
        return parse_moment(value)
    except ValueError as exc:
        example = "e.g. 2024-11-01 or 2024-11-11T20:00"
        raise click.BadParameter(f"{exc}, {example}", ctx, param) from None


def header(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """Repeated `K:V` values as a dict."""
    headers: dict[str, str] = {}
    for value in values:
        name, colon, content = value.partition(":")
        if not colon or not name.strip():
            raise click.BadParameter(f"{value!r}: use NAME:VALUE", ctx, param)
        headers[name.strip()] = content.strip()
    return headers


def http_options(command: F) -> F:
    """The options of the HTTP target, shared by `produce` and `replay`."""
    options = (
        click.option(
            "--batch-size",
            type=click.IntRange(1, 100_000),
            default=500,
            show_default=True,
            help="HTTP target: events per POST.",
        ),
        click.option(
            "--concurrency",
            type=click.IntRange(1, 64),
            default=4,
            show_default=True,
            help="HTTP target: POSTs in flight at once.",
        ),
        click.option(
            "--header",
            "headers",
            multiple=True,
            callback=header,
            metavar="NAME:VALUE",
            help="HTTP target: a request header (repeatable).",
        ),
        click.option(
            "--retry-for",
            type=click.FloatRange(0),
            default=60.0,
            show_default=True,
            help="HTTP target: seconds a failing POST is retried before the run gives up.",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def fraction(ctx: click.Context, param: click.Parameter, value: float | None) -> float:
    """A share of events, 0 to 1; absent is 0."""
    if value is None:
        return 0.0
    if not 0 <= value <= 1:
        raise click.BadParameter(f"{value:g} is not a fraction between 0 and 1", ctx, param)
    return value


_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


def late_option(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, int]:
    """`P:DELAY`: a share of events and the mean of their delay (500ms, 30s, 5m, 1h; bare: s)."""
    if value is None:
        return 0.0, 0
    share, _, delay = value.partition(":")
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", delay.strip())
    try:
        p = float(share)
    except ValueError:
        p = -1.0
    if match is None or not 0 <= p <= 1:
        raise click.BadParameter(
            f"{value!r}: use P:DELAY, a fraction and a mean delay, e.g. 0.02:30s", ctx, param
        )
    return p, int(float(match[1]) * _UNITS_MS[match[2] or "s"])


def fault_options(command: Callable[..., None]) -> Callable[..., None]:
    """--duplicates, --late, --reorder, --malformed and --truth, shared by `produce` and
    `replay`: the shares reach the command as one `faults` argument."""

    def share(name: str, help: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
        return click.option(name, type=float, callback=fraction, metavar="P", help=help)

    options: list[Callable[[Callable[..., None]], Callable[..., None]]] = [
        share("--duplicates", "Share of events sent twice (same event_id)."),
        click.option(
            "--late",
            callback=late_option,
            metavar="P:DELAY",
            help="Share of events held back by a mean event-time DELAY (e.g. 0.02:30s).",
        ),
        share("--reorder", "Share of events sent after their session's next."),
        share("--malformed", "Share of events followed by a corrupted copy."),
        click.option(
            "--truth",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write the injected faults and the expected results here (JSON lines).",
        ),
    ]

    @functools.wraps(command)
    def gathered(
        *args: object,
        duplicates: float,
        late: tuple[float, int],
        reorder: float,
        malformed: float,
        **kwargs: object,
    ) -> None:
        faults = FaultOptions(
            duplicates=duplicates,
            late=late[0],
            late_delay_ms=late[1],
            reorder=reorder,
            malformed=malformed,
        )
        if faults.duplicates + faults.late + faults.reorder + faults.malformed > 1:
            raise click.UsageError("the fault shares add up to more than 1")
        command(*args, faults=faults, **kwargs)

    decorated: Callable[..., None] = gathered
    for option in reversed(options):
        decorated = option(decorated)
    return decorated
