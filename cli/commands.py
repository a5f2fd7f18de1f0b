"""The `cartsim` command: each service on its own, or the whole pipeline with `cartsim up`."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path
from types import FrameType

import click
from pydantic import ValidationError
from rich.console import Console

from cartsim.broker import EmbeddedBroker
from cartsim.errors import CartsimError
from cartsim.kafka import ensure_topic
from cartsim.processes import Supervisor
from cartsim.producer.options import (
    Destination,
    destination,
    fault_options,
    http_options,
    moment,
)
from cartsim.settings import Settings, get_settings
from cartsim.truth import FaultOptions

console = Console(stderr=True, highlight=False, soft_wrap=True)  # an error stays one line


class _Stopped(Exception):
    """SIGTERM or SIGINT: stop the children, then exit 0."""


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


def _stop_on_signals() -> None:
    """SIGTERM and SIGINT both stop us, even when SIGINT came in ignored: a shell without job
    control starts background commands with SIGINT ignored, and Python then never raises
    KeyboardInterrupt, so `kill -INT` would leave the pipeline running."""
    signal.signal(signal.SIGTERM, _raise_stopped)
    signal.signal(signal.SIGINT, _raise_stopped)


metrics_option = click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="Serve Prometheus metrics on this port (/metrics) while running.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cartsim")
def cli() -> None:
    """Streaming simulator of TechStore Vietnam cart events."""


@cli.command()
@click.option("--port", type=click.IntRange(1, 65535), help="Listen port (default: a free one).")
def broker(port: int | None) -> None:
    """Run the embedded Kafka-compatible broker (Tansu) on 127.0.0.1 until Ctrl-C."""
    _stop_on_signals()
    with EmbeddedBroker(port=port) as embedded:
        console.print(f"broker ready: [bold]{embedded.bootstrap}[/] (in memory)")
        click.echo(embedded.bootstrap)
        console.print(f"use it with: export CARTSIM_KAFKA_BOOTSTRAP={embedded.bootstrap}")
        try:
            assert embedded.process is not None
            code = embedded.process.wait()
            raise CartsimError(f"the broker exited with code {code}")
        except _Stopped:
            console.print("stopping the broker")


@cli.command()
@click.option("--loglevel", default="info", show_default=True)
def worker(loglevel: str) -> None:
    """Run the Faust worker: sink and aggregate the events topic."""
    import faust

    settings = get_settings()
    asyncio.run(_worker_topics(settings))
    from cartsim.stream_processors.agents import app

    faust.Worker(app, loglevel=loglevel).execute_from_commandline()


async def _worker_topics(settings: Settings) -> None:
    """Every topic the worker writes, ready before Faust starts producing to them."""
    from cartsim.stream_processors.aggregate import TABLE_NAMES

    bootstrap = settings.require_bootstrap()
    await ensure_topic(bootstrap, settings.topic, settings.partitions)
    await ensure_topic(bootstrap, settings.abandoned_topic, settings.partitions)
    await ensure_topic(bootstrap, settings.dlq_topic, settings.partitions)
    for table in TABLE_NAMES:  # Faust's changelog naming: <app id>-<table>-changelog
        name = f"{settings.worker_id}-{table}-changelog"
        await ensure_topic(bootstrap, name, settings.partitions, {"cleanup.policy": "compact"})


@cli.command()
@click.option("--host", help="Bind address (default: CARTSIM_API_HOST, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: CARTSIM_API_PORT).")
def api(host: str | None, port: int | None) -> None:
    """Serve the REST API with uvicorn."""
    import uvicorn

    from cartsim.api.main import create_app

    settings = get_settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_level="info",
        timeout_graceful_shutdown=3,  # open dashboard streams never end by themselves
    )


@cli.command()
@click.option("--count", type=click.IntRange(min=1), help="Events to produce, then stop.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="Events per second.")
@click.option("--seed", type=int, help="Seed: the same seed and options give the same events.")
@click.option(
    "--to",
    default="kafka",
    show_default=True,
    callback=destination,
    help="kafka (the configured topic, keyed by session_id), kafka://HOST:PORT/TOPIC, "
    "http(s)://URL (POSTs of JSON lines), stdout, or file:PATH (gzip if PATH ends .gz).",
)
@click.option("--start", callback=moment, help="Backfill from this ISO date/time (Vietnam time).")
@click.option("--end", callback=moment, help="Backfill until this ISO date/time (exclusive).")
@http_options
@fault_options
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    help="Generator processes (default: the cores available); the events do not depend on it.",
)
@metrics_option
def produce(
    count: int | None,
    rate: float | None,
    seed: int | None,
    to: Destination,
    start: datetime | None,
    end: datetime | None,
    batch_size: int,
    concurrency: int,
    headers: dict[str, str],
    retry_for: float,
    faults: FaultOptions,
    truth: Path | None,
    processes: int | None,
    metrics_port: int | None,
) -> None:
    """Simulate shoppers: --count N as a batch, live at --rate, or --count N over --start/--end."""
    from cartsim.producer.command import Plan
    from cartsim.producer.command import produce as run
    from cartsim.producer.journeys import new_seed
    from cartsim.producer.pool import available_cores
    from cartsim.producer.targets import HttpOptions

    if (start is None) != (end is None) or (start is not None and count is None):
        raise click.UsageError("a backfill needs --start, --end and --count together")
    if start is not None and end is not None:
        if end <= start:
            raise click.BadParameter("must be after --start", param_hint="--end")
        if rate is not None:
            raise click.UsageError("a backfill runs flat out: leave out --rate")
    settings = get_settings()
    configured = to.kind == "kafka" and to.address is None
    bootstrap = settings.require_bootstrap() if configured else None
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its failures reach us as errors
    if count is None and rate is None:
        rate = settings.rate
    seed = new_seed() if seed is None else seed
    plan = Plan(seed, count, rate, start, end, faults, truth, processes or available_cores())
    http = HttpOptions(batch_size, concurrency, headers, retry_for)
    watch = None
    if metrics_port is not None:
        from cartsim.producer.metrics import serve

        watch = serve(metrics_port, "produce", count).watch
    sent = asyncio.run(run(plan, to, settings, bootstrap, console, http=http, watch=watch))
    where = settings.topic if configured else to
    console.print(f"sent {sent:,} events to {str(where)!r} (seed {plan.seed})")


@cli.command(hidden=True)
def generator() -> None:
    """One generator process of `produce`: buckets in on stdin, their events out on stdout."""
    from cartsim.producer.worker import serve

    try:
        serve(sys.stdin.buffer, sys.stdout.buffer)
    except BrokenPipeError:
        sys.exit(1)  # the producer is gone
    except Exception as exc:  # the producer shows this one line as the reason
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)


@cli.command()
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="Live events/s.")
@click.option("--port", type=click.IntRange(1, 65535), help="API port (default 8000).")
@click.option("--host", help="API bind address (default 127.0.0.1).")
def up(rate: float | None, port: int | None, host: str | None) -> None:
    """Run the whole pipeline: broker (unless CARTSIM_KAFKA_BOOTSTRAP is set), worker, API and
    a live producer. Ctrl-C stops everything."""
    settings = get_settings()
    rate = rate or settings.rate
    port = port or settings.api_port
    host = host or settings.api_host
    _stop_on_signals()
    supervisor = Supervisor()
    command = [sys.executable, "-m", "cartsim.cli"]
    try:
        if settings.kafka_bootstrap:
            bootstrap = settings.kafka_bootstrap
            console.print(f"using Kafka at [bold]{bootstrap}[/]")
        else:
            embedded = EmbeddedBroker().start()
            assert embedded.process is not None
            supervisor.adopt("broker", embedded.process)
            bootstrap = embedded.bootstrap
            supervisor.env["CARTSIM_KAFKA_BOOTSTRAP"] = bootstrap
            console.print(f"embedded broker (Tansu, in memory) at [bold]{bootstrap}[/]")
        asyncio.run(ensure_topic(bootstrap, settings.topic, settings.partitions))
        supervisor.start("worker", [*command, "worker"])
        supervisor.start("api", [*command, "api", "--host", host, "--port", str(port)])
        # a live rate of tens of events/s needs no generator processes beside the producer
        live = [*command, "produce", "--rate", f"{rate:g}", "--processes", "1"]
        supervisor.start("producer", live)
        base = f"http://{host}:{port}"
        console.print(
            f"pipeline up: producing {rate:g} events/s to {settings.topic!r}\n"
            f"  API   {base}/cart/events\n  docs  {base}/docs  ·  {base}/redoc\n"
            f"  data  {settings.data_dir}/private_data/cart_tracking/\n"
            "Ctrl-C stops everything."
        )
        name, code = supervisor.wait_any()
        raise CartsimError(f"{name} exited with code {code}; stopping the pipeline")
    except _Stopped:
        console.print("stopping: producer, API, worker, broker")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan children
        supervisor.stop_all()


def main() -> None:
    """Entry point: user mistakes and unreachable services print one line, not a traceback."""
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (CartsimError, ValidationError) as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(1)
