"""Instants as users write them: the one date syntax of the REST API and the command line.

A value is an ISO 8601 date or date-time (`datetime.fromisoformat`, which reads the basic and
extended forms, week dates and RFC 3339's lower-case `t` and `z`); without a UTC offset it is
Vietnam time. A number is refused rather than read as seconds since the epoch: pydantic would
read `20241101` as 1970-08-23, and the API's OpenAPI document declares an ISO 8601 string.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated

from pydantic import BeforeValidator

#: Vietnam has kept UTC+07:00 without daylight saving since 1975; every event's timestamp
#: carries this offset.
VIETNAM = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")

DATE_HELP = "ISO 8601 date or date-time, with or without offset (naive: Asia/Ho_Chi_Minh)."

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def localized(value: datetime) -> datetime:
    """`value` with Vietnam's offset when it has none."""
    return value if value.tzinfo else value.replace(tzinfo=VIETNAM)


def parse_moment(text: str) -> datetime:
    """An aware datetime from `text`; ValueError saying why when it is not one."""
    try:
        return localized(datetime.fromisoformat(text.upper()))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or date-time") from None


def _iso_moment(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return parse_moment(value)
    raise ValueError(f"{value!r} is not an ISO 8601 date or date-time")


#: A datetime field or query parameter in this syntax (its JSON Schema stays `date-time`).
Moment = Annotated[datetime, BeforeValidator(_iso_moment)]


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch, for every instant a datetime holds (years 1 to 9999):
    a difference of datetimes, which unlike `timestamp()` never overflows."""
    return (localized(value) - _EPOCH) // _MILLISECOND
