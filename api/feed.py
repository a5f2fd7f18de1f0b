"""The dashboard's live feed: one frame built per interval while anyone listens, shared by all.

However many pages are open, the API builds one frame per interval (the statistics, abandoned
carts, health and latest events), so a room full of dashboards costs what one costs; with no
page open it builds none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

log = logging.getLogger(__name__)


class Feed:
    """Calls `build` every `interval_s` seconds while at least one listener iterates `frames`."""

    def __init__(self, build: Callable[[], Awaitable[bytes]], interval_s: float) -> None:
        self.build = build
        self.interval_s = interval_s
        self.listeners = 0
        self._frame = b""
        self._version = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def frames(self) -> AsyncIterator[bytes]:
        """Every frame from now on; the newest one first, when there is one already."""
        self.listeners += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="dashboard-feed")
        seen = 0
        try:
            while True:
                async with self._changed:
                    await self._changed.wait_for(partial(self._newer, seen))
                    seen, frame = self._version, self._frame
                yield frame
        finally:
            self.listeners -= 1
            if self.listeners == 0:
                await self.close()

    def _newer(self, seen: int) -> bool:
        return self._version != seen

    async def close(self) -> None:
        """Stop building; the next listener waits for a fresh frame, not this stale one."""
        task, self._task = self._task, None
        self._version, self._frame = 0, b""
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                frame = await self.build()
            except Exception:  # a frame that fails is logged; the next one is tried
                log.exception("dashboard frame failed")
            else:
                async with self._changed:
                    self._frame = frame
                    self._version += 1
                    self._changed.notify_all()
            await asyncio.sleep(self.interval_s)
