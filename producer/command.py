"""`cartsim produce` put together: pick the time mode, open the target, emit with progress."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from cartsim.producer.catalog import load_catalog
from cartsim.producer.config import JourneyConfig
from cartsim.producer.emit import emit
from cartsim.producer.inject import emit_with_faults
from cartsim.producer.journeys import (
    Schedule,
    backfill_schedule,
    batch_schedule,
    steady_schedule,
)
from cartsim.producer.lines import Reader
from cartsim.producer.options import Destination
from cartsim.producer.pool import runner
from cartsim.producer.records import KeyedEvent
from cartsim.producer.targets import HttpOptions, Target, open_target
from cartsim.settings import Settings
from cartsim.storage import Layout
from cartsim.truth import FaultOptions


@dataclass(frozen=True)
class Plan:
    """What to produce: live (rate; with a count, that many), batch (count: the last events up
    to now), or backfill (count, start, end); made by `processes` generator processes."""

    seed: int
    count: int | None = None
    rate: float | None = None
    start: datetime | None = None
    end: datetime | None = None
    faults: FaultOptions = field(default_factory=FaultOptions)
    truth: Path | None = None
    processes: int = 1

    def schedule(self, config: JourneyConfig) -> Schedule:
        if self.start is not None and self.end is not None and self.count is not None:
            return backfill_schedule(self.start, self.end, self.count)
        if self.count is not None and self.rate is None:
            return batch_schedule(self.count, config)
        return steady_schedule(self.rate or config.batch_rate)

    def records(self, settings: Settings, config: JourneyConfig) -> Iterator[KeyedEvent]:
        """The plan's records, made in this process."""
        products = load_catalog(Layout(settings.data_dir).products_path)
        return self.schedule(config).records(self.seed, products, config)

    @contextmanager
    def lines(self, settings: Settings, config: JourneyConfig) -> Iterator[Reader]:
        """The plan's events, while its generator processes run."""
        products = load_catalog(Layout(settings.data_dir).products_path)
        with runner(self.processes, self.seed, products, config) as making:
            yield Reader(self.schedule(config).lines(making))


@contextmanager
def progress_bar(console: Console, total: int | None) -> Iterator[Callable[[int], None] | None]:
    """A bar with rate and ETA on a terminal's stderr, for runs with a known count."""
    if total is None or not console.is_terminal:
        yield None
        return
    columns = (
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("events", total=total, rate="")

        def advance(done: int) -> None:
            speed = progress.tasks[0].speed
            progress.update(task, completed=done, rate=f"{speed or 0:,.0f} events/s")

        yield advance


async def produce(
    plan: Plan,
    to: Destination,
    settings: Settings,
    bootstrap: str | None,
    console: Console,
    config: JourneyConfig | None = None,
    http: HttpOptions | None = None,
    watch: Callable[[Target], None] | None = None,
) -> int:
    """Run the plan until its count is sent or SIGINT/SIGTERM; returns the events sent.
    `watch` is handed the open target (the metrics read what it delivered)."""
    config = config or JourneyConfig()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    with plan.lines(settings, config) as lines:
        async with open_target(to, settings, bootstrap, http) as target:
            if watch is not None:
                watch(target)
            with progress_bar(console, plan.count) as on_progress:
                count, rate = plan.count, plan.rate
                if not plan.faults.active and plan.truth is None:
                    return await emit(
                        lines, target, count=count, rate=rate, stop=stop, on_progress=on_progress
                    )
                records = lines.records()
                return await emit_with_faults(
                    records if count is None else islice(records, count),
                    target,
                    settings,
                    faults=plan.faults,
                    seed=plan.seed,
                    truth=plan.truth,
                    rate=rate,
                    stop=stop,
                    on_progress=on_progress,
                )
