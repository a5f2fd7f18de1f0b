"""Option values of `cartsim produce` and `cartsim replay`, parsed for click so that a bad
value is a one-line error."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

from cartsim.moments import parse_moment

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
