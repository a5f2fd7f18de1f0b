"""Instants as users write them: the one date syntax of the REST API and the command line.

A value is an ISO 8601 date or date-time (or seconds since the epoch), parsed by pydantic as
FastAPI parses the API's `start_date`/`end_date`; without a UTC offset it is Vietnam time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pydantic import TypeAdapter, ValidationError

#: Vietnam has kept UTC+07:00 without daylight saving since 1975.
VIETNAM = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")

DATE_HELP = "ISO 8601 date or date-time, with or without offset (naive: Asia/Ho_Chi_Minh)."

_DATETIME = TypeAdapter(datetime)


def localized(value: datetime) -> datetime:
    """`value` with Vietnam's offset when it has none."""
    return value if value.tzinfo else value.replace(tzinfo=VIETNAM)


def parse_moment(text: str) -> datetime:
    """An aware datetime from `text`; ValueError with a short reason when it is not one."""
    try:
        return localized(_DATETIME.validate_python(text))
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise ValueError(f"{text!r} is not an ISO 8601 date or time ({reason})") from None


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch; OverflowError/ValueError for instants out of range."""
    return int(localized(value).timestamp() * 1000)
