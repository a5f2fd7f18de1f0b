"""How `cartsim tail` shows a record: JSON lines, pretty JSON, or one table row per event.

On a terminal rich colours them; in a pipe `json` writes each record's value exactly as it is on
the topic, one per line, and the other formats are the same text without colour codes.
"""

from __future__ import annotations

from typing import Any, BinaryIO, Literal

import orjson
from rich.console import Console
from rich.text import Text

from cartsim.tail.reader import Record

Format = Literal["json", "pretty", "table"]
FORMATS: tuple[Format, ...] = ("json", "pretty", "table")

_STYLES = {
    "purchase": "bold green",
    "add_to_cart": "cyan",
    "begin_checkout": "magenta",
    "add_shipping_info": "magenta",
    "add_payment_info": "magenta",
    "remove_from_cart": "yellow",
    "payment_failed": "bold red",
    "order_cancelled": "red",
    "exit_page": "dim",
}
#: (heading, width, right-aligned) of each table column
_COLUMNS = (
    ("time", 8, False),
    ("p:offset", 10, False),
    ("event_type", 17, False),
    ("session", 21, False),
    ("product / order", 36, False),
    ("qty", 3, True),
    ("VND", 12, True),
    ("device · source", 20, False),
)


def _decoded(record: Record) -> dict[str, Any]:
    try:
        event = orjson.loads(record.value)
    except orjson.JSONDecodeError:
        return {}
    return event if isinstance(event, dict) else {}


def _cells(record: Record, event: dict[str, Any]) -> list[str]:
    amount = event.get("line_total_vnd") or event.get("cart_total_vnd")
    what = event.get("product_name") or event.get("order_id") or event.get("search_query") or ""
    quantity = event.get("quantity")
    return [
        str(event.get("timestamp", ""))[11:19],
        f"{record.partition}:{record.offset}",
        str(event.get("event_type", "?")),
        str(event.get("session_id", "")),
        str(what),
        "" if quantity is None else str(quantity),
        "" if amount is None else f"{amount:,}",
        f"{event.get('device', '')} · {event.get('source', '')}",
    ]


def _row(cells: list[str], style: str = "") -> Text:
    row = Text(style=style)
    for index, (cell, (_, width, right)) in enumerate(zip(cells, _COLUMNS, strict=True)):
        clipped = cell if len(cell) <= width else cell[: width - 1] + "…"
        row.append(clipped.rjust(width) if right else clipped.ljust(width))
        if index < len(_COLUMNS) - 1:
            row.append("  ")
    return row


class Printer:
    """Writes records in one format to a console (text) or, for JSON lines in a pipe, to raw
    standard output (bytes, exactly as on the topic)."""

    def __init__(self, fmt: Format, console: Console, raw: BinaryIO) -> None:
        self.fmt = fmt
        self.console = console
        self.raw = raw
        self._headed = False

    def show(self, record: Record) -> None:
        if self.fmt == "json" and not self.console.is_terminal:
            self.raw.write(record.value + b"\n")
            return
        event = _decoded(record)
        style = _STYLES.get(str(event.get("event_type", "")), "")
        if self.fmt == "json":
            self._json(record, indent=None)
        elif self.fmt == "pretty":
            heading = Text(f"partition {record.partition} · offset {record.offset}  ", "dim")
            heading.append(str(event.get("event_type", "?")), style or "bold")
            self.console.print(heading, soft_wrap=True)
            self._json(record, indent=2)
        else:
            if not self._headed:
                self.console.print(_row([name for name, _, _ in _COLUMNS], "bold"), soft_wrap=True)
                self._headed = True
            self.console.print(_row(_cells(record, event), style), soft_wrap=True)

    def _json(self, record: Record, indent: int | None) -> None:
        text = record.value.decode(errors="replace")
        try:
            self.console.print_json(text, indent=indent)
        except ValueError:  # not JSON: shown as it is
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def flush(self) -> None:
        self.raw.flush()
        self.console.file.flush()
