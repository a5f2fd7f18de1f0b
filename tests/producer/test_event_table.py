"""docs/events.md holds the field table the model gives."""

from __future__ import annotations

import pytest

from cartsim.events import EVENT_FIELDS
from cartsim.producer.event_table import DOCS_PATH, TABLE_END, TABLE_START, documented


def test_the_field_table_of_the_docs_is_the_generated_one() -> None:
    page = DOCS_PATH.read_text(encoding="utf-8")
    assert page == documented(page), "run: python -m cartsim.producer.event_table"
    table = page.split(TABLE_START)[1].split(TABLE_END)[0]
    assert all(f"| `{field.name}` |" in table for field in EVENT_FIELDS)


def test_a_page_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="lacks the markers"):
        documented("# no table here\n")
