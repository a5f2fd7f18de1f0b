"""Faust's table recovery, stopped at its next step when a newer rebalance has begun.

Faust recovers an assignment in one long coroutine of awaited steps (`Recovery._wait`), while
each new assignment rewrites the sets and offsets that coroutine reads (`Recovery.on_rebalance`,
which has no await, then signals the coroutine to start over). `_wait` looks at that signal
only after a step: a step that fails on the rewritten state raises instead. Seen in the stall
test: a rebalance came as the previous recovery finished reading the changelogs; the coroutine
went on to seek the new standby partitions, whose offsets the new assignment had set to None,
and aiokafka's `seek` raised `ValueError("Offset must be a positive integer")`, which crashed
the worker. Here a step does not start once a newer rebalance has signalled, and a step that
fails meanwhile starts the recovery over instead of crashing it.
"""

from __future__ import annotations

from typing import Any

from faust.tables import TableManager
from faust.tables.recovery import RebalanceAgain, Recovery, ServiceStopped


class RebalanceSafeRecovery(Recovery):
    """Recovery whose steps belong to the rebalance that started them."""

    async def _wait(self, coro: Any, timeout: Any = None) -> None:  # noqa: ASYNC109 (Faust's signature)
        if self.signal_recovery_start.is_set():
            _close(coro)
            raise RebalanceAgain()
        try:
            await super()._wait(coro, timeout=timeout)
        except (RebalanceAgain, ServiceStopped):
            raise
        except Exception as exc:
            if self.signal_recovery_start.is_set():
                self.log.info("A rebalance began during recovery (%r): starting over", exc)
                raise RebalanceAgain() from exc
            raise


def _close(coro: Any) -> None:
    """Never awaited: close it, so Python does not warn of a coroutine never awaited."""
    close = getattr(coro, "close", None)
    if close is not None:
        close()


class RebalanceSafeTableManager(TableManager):
    """Faust's table manager with the recovery above."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = RebalanceSafeRecovery(
                self.app, self, beacon=self.beacon, loop=self.loop
            )
        return self._recovery
