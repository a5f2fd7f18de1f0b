"""Query parameters every event listing shares: the page, and the time range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError

from cartsim import moments
from cartsim.moments import DATE_HELP, Moment


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


async def paging(
    limit: Annotated[int, Query(ge=1, le=1000, description="Events per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1, description="Events to skip.")] = 0,
) -> Paging:
    return Paging(limit, offset)


def _invalid(name: str, value: datetime, message: str) -> RequestValidationError:
    """A 422 shaped like FastAPI's own, so clients parse one error format."""
    error = {"type": "value_error", "loc": ("query", name), "msg": message, "input": str(value)}
    return RequestValidationError([error])


def epoch_ms(name: str, value: datetime | None) -> int | None:
    """Milliseconds since the epoch; a naive date-time is read as Vietnam time."""
    if value is None:
        return None
    try:
        return moments.epoch_ms(value)
    except (OverflowError, ValueError) as exc:
        raise _invalid(name, value, "date-time out of range") from exc


@dataclass(frozen=True)
class TimeRange:
    start_ms: int | None
    end_ms: int | None


async def time_range(
    start_date: Annotated[
        Moment | None, Query(description=f"Earliest, inclusive. {DATE_HELP}")
    ] = None,
    end_date: Annotated[Moment | None, Query(description=f"Latest, inclusive. {DATE_HELP}")] = None,
) -> TimeRange:
    start_ms, end_ms = epoch_ms("start_date", start_date), epoch_ms("end_date", end_date)
    if start_ms is not None and end_ms is not None and end_ms < start_ms:
        assert end_date is not None
        raise _invalid("end_date", end_date, "end_date is before start_date")
    return TimeRange(start_ms, end_ms)


PagingDep = Annotated[Paging, Depends(paging)]
TimeRangeDep = Annotated[TimeRange, Depends(time_range)]
