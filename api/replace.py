"""The "replace" step of POST /cart/generate/events: owned by stream processing, not wired yet.

Replace must leave exactly the next job's events in the files and the Faust tables. Emptying
them belongs to the worker, which owns both; until it is implemented the route answers 501 and
never starts a replace job. To wire it: implement `replace_hook` (it is awaited before the job
sends its first event) and set `REPLACE_AVAILABLE = True`.
"""

from __future__ import annotations

from cartsim.settings import Settings

REPLACE_AVAILABLE = False
REPLACE_UNAVAILABLE_REASON = (
    "method=replace is not implemented yet (the worker must first clear the stored events and "
    "tables); use method=new to append"
)


async def replace_hook(settings: Settings) -> None:
    """Clear the stored events and the worker's tables, so that only new events remain.

    The API's ingester deletes the rows of segments whose files disappear, so removing the
    segment files is enough for the query side.
    """
    raise NotImplementedError(REPLACE_UNAVAILABLE_REASON)
