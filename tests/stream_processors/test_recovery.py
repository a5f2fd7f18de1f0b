"""Faust's recovery when a newer rebalance begins while a step of the previous one runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import faust
import pytest
from faust.tables.recovery import RebalanceAgain, Recovery

from cartsim.settings import Settings, get_settings
from cartsim.stream_processors.recovery import RebalanceSafeRecovery, RebalanceSafeTableManager


def recovery(table_manager: type[Any] = RebalanceSafeTableManager) -> Recovery:
    app = faust.App("recovery-test", broker="memory://", TableManager=table_manager)
    return app.tables.recovery  # type: ignore[attr-defined,no-any-return]


async def seek_after_a_rebalance(recovering: Recovery) -> None:
    """The step that crashed the worker: the new assignment's offsets, None, sought."""
    recovering.signal_recovery_start.set()  # on_rebalance of the next assignment
    raise ValueError("Offset must be a positive integer")


def test_the_worker_recovers_with_the_rebalance_safe_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARTSIM_KAFKA_BOOTSTRAP", "127.0.0.1:9092")  # the module makes the app
    monkeypatch.setenv("CARTSIM_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    from cartsim.stream_processors.app import create_app

    app = create_app(Settings(kafka_bootstrap="127.0.0.1:9092", data_dir=tmp_path))
    get_settings.cache_clear()
    assert isinstance(app.tables.recovery, RebalanceSafeRecovery)  # type: ignore[attr-defined]


def test_a_step_failing_after_a_newer_rebalance_starts_recovery_over() -> None:
    async def run() -> None:
        recovering = recovery()
        with pytest.raises(RebalanceAgain):
            await recovering._wait(seek_after_a_rebalance(recovering))

    asyncio.run(run())


def test_faust_alone_crashes_there() -> None:
    """What the subclass is for: Faust's own recovery raises the step's error."""

    async def run() -> None:
        recovering = recovery(faust.tables.TableManager)
        with pytest.raises(ValueError, match="positive integer"):
            await recovering._wait(seek_after_a_rebalance(recovering))

    asyncio.run(run())


def test_no_step_starts_once_a_newer_rebalance_has_signalled() -> None:
    started = []

    async def step() -> None:
        started.append(True)

    async def run() -> None:
        recovering = recovery()
        recovering.signal_recovery_start.set()
        with pytest.raises(RebalanceAgain):
            await recovering._wait(step())

    asyncio.run(run())
    assert started == []


def test_a_failing_step_without_a_rebalance_still_fails() -> None:
    async def step() -> None:
        raise ValueError("a real error")

    async def run() -> None:
        with pytest.raises(ValueError, match="a real error"):
            await recovery()._wait(step())

    asyncio.run(run())
