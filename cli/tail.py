"""`cartsim tail`: the events topic of any cluster, on a terminal or in a pipe."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

import click
from rich.console import Console

from cartsim.cli.commands import cli, console
from cartsim.events import EVENT_TYPES
from cartsim.settings import get_settings
from cartsim.tail.formats import FORMATS, Format, Printer
from cartsim.tail.reader import Selection, records


@cli.command()
@click.option("--bootstrap", help="Kafka bootstrap servers (default: CARTSIM_KAFKA_BOOTSTRAP).")
@click.option("--topic", help="Topic to read (default: CARTSIM_TOPIC, cart-events).")
@click.option("--from-beginning", is_flag=True, help="Start at each partition's first event.")
@click.option(
    "--event-type",
    "event_types",
    multiple=True,
    type=click.Choice(EVENT_TYPES),
    help="Only this event type (repeat for several).",
)
@click.option("--session", help="Only this session's events (one partition is read).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="json lines, pretty JSON or a table (default: table on a terminal, json in a pipe).",
)
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many events.")
def tail(
    bootstrap: str | None,
    topic: str | None,
    from_beginning: bool,
    event_types: tuple[str, ...],
    session: str | None,
    fmt: Format | None,
    count: int | None,
) -> None:
    """Print events from the topic as they arrive, like `kcat -C`, without joining a group."""
    settings = get_settings()
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its failures reach us as errors
    out = Console(highlight=False)
    printer = Printer(fmt or ("table" if out.is_terminal else "json"), out, sys.stdout.buffer)
    selection = Selection(frozenset(event_types), session)
    shown = asyncio.run(
        _tail(
            bootstrap or settings.require_bootstrap(),
            topic or settings.topic,
            selection,
            from_beginning,
            count,
            printer,
        )
    )
    if out.is_terminal:
        console.print(f"[dim]{shown:,} events[/]")


async def _tail(
    bootstrap: str,
    topic: str,
    selection: Selection,
    from_beginning: bool,
    count: int | None,
    printer: Printer,
) -> int:
    """Show records until `count` of them, Ctrl-C, SIGTERM, or the reader of a pipe leaving."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    shown = 0
    stream = records(bootstrap, topic, selection, from_beginning=from_beginning, stop=stop)
    async with contextlib.aclosing(stream):
        async for batch in stream:
            wanted = batch if count is None else batch[: count - shown]
            try:
                for record in wanted:
                    printer.show(record)
                printer.flush()  # once per fetch: a pipe sees each fetch as it comes
            except BrokenPipeError:
                # `cartsim tail | head`: the reader has gone; Python's own flush at exit
                # must not complain about it either
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                break
            shown += len(wanted)
            if count is not None and shown >= count:
                break
    return shown
