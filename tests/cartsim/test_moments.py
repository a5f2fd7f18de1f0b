"""One date syntax for the API and the command line: ISO dates and times, naive as Vietnam."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cartsim.moments import VIETNAM, epoch_ms, parse_moment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-11-11", datetime(2024, 11, 11, tzinfo=VIETNAM)),
        ("2024-11-11T20:00", datetime(2024, 11, 11, 20, tzinfo=VIETNAM)),
        ("2024-11-11 20:00:00+07:00", datetime(2024, 11, 11, 20, tzinfo=VIETNAM)),
        ("2024-11-11T13:00Z", datetime(2024, 11, 11, 13, tzinfo=UTC)),
    ],
)
def test_dates_and_times_parse_as_the_api_parses_them(text: str, expected: datetime) -> None:
    assert parse_moment(text) == expected
    assert epoch_ms(parse_moment(text)) == int(expected.timestamp() * 1000)


@pytest.mark.parametrize("text", ["soon", "2024-13-01", "2024-11-31", "", "0.5", "1731330000"])
def test_what_is_not_an_instant_is_a_short_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="is not an ISO 8601 date or date-time"):
        parse_moment(text)


def test_a_naive_time_is_vietnam_time() -> None:
    assert epoch_ms(datetime(2024, 11, 11, 7)) == epoch_ms(datetime(2024, 11, 11, tzinfo=UTC))
