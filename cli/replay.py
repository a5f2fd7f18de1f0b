"""`cartsim replay`: send stored or recorded events to another system, paced and re-timed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from cartsim.cli.commands import cli, console, metrics_option
from cartsim.errors import CartsimError
from cartsim.events import EVENT_TYPES
from cartsim.moments import epoch_ms, parse_moment
from cartsim.producer.options import (
    Destination,
    KafkaAddress,
    destination,
    fault_options,
    http_options,
    kafka_address,
    moment,
)
from cartsim.replay_checkpoint import ReplayCheckpoint, ReplayPlan
from cartsim.settings import Settings, get_settings
from cartsim.truth import FaultOptions

if TYPE_CHECKING:  # the engine is imported when the command runs, not at start-up
    from cartsim.producer.inject import FaultyTarget
    from cartsim.producer.replay import Status

#: Why a replay with faults keeps no checkpoint: the injector's held records, its random state
#: and the truth file's tally would all have to be in it, and a resumed run's faults would
#: still differ from those of one run.
_ONE_RUN = "a replay with fault options or --truth is one run and keeps no checkpoint"


def _speed(ctx: click.Context, param: click.Parameter, value: str) -> float | None:
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        speed = 0.0
    if not speed > 0 or speed == float("inf"):
        raise click.BadParameter(f"{value!r}: use max or a number above 0", ctx, param)
    return speed


def _loops(ctx: click.Context, param: click.Parameter, value: str) -> int | None:
    if value == "forever":
        return None
    if not value.isdigit() or int(value) < 1:
        raise click.BadParameter(f"{value!r}: use a count of 1 or more, or forever", ctx, param)
    return int(value)


def _retime(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and value != "now":
        moment(ctx, param, value)  # refused here if it is not an instant
    return value


def open_source(
    spec: str, logs: tuple[str, ...], settings: Settings, from_ms: int | None = None
) -> object:
    """The source SPEC names: store, kafka, kafka://HOST:PORT/TOPIC, `-` (stdin) or a file."""
    from cartsim.producer.sources import FileSource, KafkaSource, StoreSource
    from cartsim.storage import Layout

    if logs and spec != "store":
        raise click.BadParameter("--log applies to the store only", param_hint="--log")
    if from_ms is not None and spec != "kafka" and not spec.startswith("kafka://"):
        raise click.BadParameter(
            "applies to a Kafka source only (use --start for event time)", param_hint="--from-time"
        )
    if spec == "store":
        return StoreSource(Layout(settings.data_dir), logs)
    if spec == "kafka":
        return KafkaSource(KafkaAddress(settings.require_bootstrap(), settings.topic), from_ms)
    if spec.startswith("kafka://"):
        try:
            return KafkaSource(kafka_address(spec), from_ms)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="SOURCE") from None
    if spec == "-":
        return FileSource(None)
    path = Path(spec.removeprefix("file:"))
    if not path.is_file():
        raise click.BadParameter(
            f"{spec!r}: no such file (use store, kafka, kafka://HOST:PORT/TOPIC, - or a file)",
            param_hint="SOURCE",
        )
    return FileSource(path)


@contextmanager
def progress_line(console: Console) -> Iterator[Callable[[Status], None] | None]:
    """Events sent, rate, ETA and lateness on a terminal's stderr; nothing elsewhere."""
    if not console.is_terminal:
        yield None
        return
    columns = (
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[line]}"),
        TimeRemainingColumn(),
    )
    started = time.monotonic()
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("replay", total=None, line="")

        def update(status: Status) -> None:
            rate = status.delivered / max(1e-9, time.monotonic() - started)
            line = f"{status.delivered:,} events · {rate:,.0f}/s"
            if status.loops != 1:
                line += f" · loop {status.loop + 1}" + (f"/{status.loops}" if status.loops else "")
            if status.behind_s >= 0.001:
                line += f" · {status.behind_s * 1000:,.0f} ms behind schedule"
            fraction = status.fraction
            progress.update(
                task,
                total=None if fraction is None else 1.0,
                completed=fraction or 0.0,
                line=line,
            )

        yield update


@cli.command()
@click.argument("source", default="store", metavar="[SOURCE]")
@click.option(
    "--to",
    default="kafka",
    show_default=True,
    callback=destination,
    help="kafka (the configured topic), kafka://HOST:PORT/TOPIC, http(s)://URL, stdout or "
    "file:PATH. Kafka targets are keyed by session_id.",
)
@click.option(
    "--create-topic",
    is_flag=True,
    help="Create a kafka://HOST:PORT/TOPIC target topic (CARTSIM_PARTITIONS) when it is missing.",
)
@click.option("--log", "logs", multiple=True, help="Store only: replay this log (repeatable).")
@click.option(
    "--from-time",
    callback=moment,
    help="Kafka source only: read each partition from its first record written at or after "
    "this instant (record time, as Kafka's offsets for times), not from the beginning.",
)
@click.option("--start", callback=moment, help="Earliest event time, inclusive (as the API).")
@click.option("--end", callback=moment, help="Latest event time, inclusive (as the API).")
@click.option(
    "--event-type",
    "event_types",
    multiple=True,
    type=click.Choice(EVENT_TYPES),
    help="Replay only this type (repeatable).",
)
@click.option(
    "--sample",
    type=click.FloatRange(0, 1, min_open=True),
    default=1.0,
    help="Fraction of sessions to keep, whole sessions (default: all).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of --sample and of the faults."
)
@click.option(
    "--speed",
    default="max",
    show_default=True,
    callback=_speed,
    help="Gaps between events divided by this (1: as recorded), or max: flat out.",
)
@click.option(
    "--retime",
    callback=_retime,
    help="now, or an instant: move every event so the first is then, gaps kept.",
)
@click.option(
    "--loop",
    "loops",
    default="1",
    show_default=True,
    callback=_loops,
    help="Passes over the source, or forever; each loop later, with its own ids.",
)
@click.option("--strict", is_flag=True, help="Stop at the first line that is not a valid event.")
@http_options
@fault_options
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where progress is recorded (default: <data dir>/private_data/replay/checkpoint.json).",
)
@click.option(
    "--resume",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Continue the replay recorded in this checkpoint (run the same command again).",
)
@metrics_option
def replay(
    source: str,
    to: Destination,
    create_topic: bool,
    logs: tuple[str, ...],
    from_time: datetime | None,
    start: datetime | None,
    end: datetime | None,
    event_types: tuple[str, ...],
    sample: float,
    seed: int,
    speed: float | None,
    retime: str | None,
    loops: int | None,
    strict: bool,
    batch_size: int,
    concurrency: int,
    headers: dict[str, str],
    retry_for: float,
    faults: FaultOptions,
    truth: Path | None,
    checkpoint: Path | None,
    resume: Path | None,
    metrics_port: int | None,
) -> None:
    """Replay events from SOURCE (default: the store) to a target, optionally paced, re-timed,
    filtered and looped. SOURCE is store, kafka (the configured topic), kafka://HOST:PORT/TOPIC,
    a JSON-lines file (.gz or plain) or - for stdin."""
    from cartsim.producer.inject import FaultyTarget
    from cartsim.producer.replay import Replay, stop_on_signals
    from cartsim.producer.selection import Selection
    from cartsim.producer.targets import HttpOptions, open_target
    from cartsim.storage import Layout

    start_ms = None if start is None else epoch_ms(start)
    end_ms = None if end is None else epoch_ms(end)
    if start_ms is not None and end_ms is not None and end_ms < start_ms:
        raise click.BadParameter("is before --start", param_hint="--end")
    if source == "-" and loops != 1:
        raise click.BadParameter("stdin can be read once: leave out --loop", param_hint="--loop")
    faulty = faults.active or truth is not None
    if faulty and resume is not None:
        raise click.UsageError(f"--resume continues a replay without faults: {_ONE_RUN}")
    if faulty and checkpoint is not None:
        raise click.UsageError(f"leave out --checkpoint: {_ONE_RUN}")
    settings = get_settings()
    from_ms = None if from_time is None else epoch_ms(from_time)
    opened = open_source(source, logs, settings, from_ms)
    bootstrap = settings.require_bootstrap() if to.kind == "kafka" and not to.address else None
    target_name = f"kafka://{bootstrap}/{settings.topic}" if bootstrap else str(to)
    plan = ReplayPlan(
        source=source if source != "store" else f"store:{Path(settings.data_dir).resolve()}",
        target=target_name,
        from_ms=from_ms,
        start_ms=start_ms,
        end_ms=end_ms,
        event_types=sorted(set(event_types)),
        sample=sample,
        seed=seed,
        retime=retime,
        loops=loops,
    )
    if resume is not None:
        point = ReplayCheckpoint.load(resume)
        differ = [k for k, v in plan.model_dump().items() if getattr(point.plan, k) != v]
        if differ:
            raise click.UsageError(
                f"{resume} records another replay ({', '.join(differ)} differ): "
                "run the same command as the replay it records"
            )
        path = resume
    else:
        point = ReplayCheckpoint(plan=plan)
        path = checkpoint or Layout(settings.data_dir).replay_checkpoint
    retime_ms = None
    if retime == "now":
        retime_ms = int(datetime.now(UTC).timestamp() * 1000)
    elif retime is not None:
        retime_ms = epoch_ms(parse_moment(retime))
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its failures reach us as errors
    http = HttpOptions(batch_size, concurrency, headers, retry_for)

    job = Replay(
        opened,  # type: ignore[arg-type]
        Selection(start_ms, end_ms, frozenset(event_types), sample, seed),
        point,
        None if faulty else path,
        speed=speed,
        retime_ms=retime_ms,
        strict=strict,
        chunk=None if to.kind != "http" else batch_size * concurrency * 4,
    )

    metrics = None
    if metrics_port is not None:
        from cartsim.producer.metrics import serve

        metrics = serve(metrics_port, "replay")

    sink: FaultyTarget | None = None

    async def run() -> None:
        nonlocal sink
        stop_on_signals(job.stop)
        with progress_line(console) as on_progress:
            job.on_progress = on_progress
            opened = open_target(to, settings, bootstrap, http, resume is not None, create_topic)
            async with opened as target:
                if metrics is not None:
                    metrics.watch(target)
                if not faulty:
                    await job.run(target)
                    return
                sink = FaultyTarget(target, settings, faults=faults, seed=seed, truth=truth)
                async with sink:
                    await job.run(sink)

    before = point.delivered
    try:
        asyncio.run(run())
    except CartsimError as exc:
        if not job.status.handed:
            raise
        delivered = f"{exc} — {point.delivered - before:,} events delivered in this run"
        if faulty:
            raise CartsimError(f"{delivered}; {_ONE_RUN}: run it again") from exc
        raise CartsimError(f"{delivered}; continue with --resume {path}") from exc
    done = point.delivered - before
    rejects = job.rejects
    if rejects.count:
        console.print(f"[yellow]{rejects.count:,} lines were not valid events and were skipped:[/]")
        for example in rejects.examples:
            console.print(f"  {example}")
    if sink is not None:
        extras = sink.records - sink.clean
        what = f"{sink.clean:,} events from {opened} to {target_name!r}"
        what += f" with faults ({extras:,} extra records)" if faults.active else ""
        what += f"; truth in {truth}" if truth is not None else ""
        console.print(f"replayed {what}" if point.finished else f"stopped after {what}")
    elif point.finished:
        console.print(f"replayed {done:,} events from {opened} to {target_name!r}")
    else:
        console.print(
            f"stopped after {done:,} events (loop {point.loop + 1}, event {point.index:,}); "
            f"continue with --resume {path}"
        )
