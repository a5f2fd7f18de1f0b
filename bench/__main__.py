"""`make bench`: run every benchmark module and print one table of what was measured.

Each module exposes `run() -> list[Result]`; pass module names to run only some of them
(`python -m bench generation`).
"""

from __future__ import annotations

import importlib
import sys

from rich.console import Console
from rich.table import Table

from bench.results import Result

MODULES = ("generation", "api", "pipeline", "replay", "transform")


def main(names: list[str]) -> None:
    console = Console()
    results: list[Result] = []
    for name in names or MODULES:
        console.print(f"[dim]running bench.{name} ...[/]")
        results.extend(importlib.import_module(f"bench.{name}").run())
    table = Table(title="cartsim benchmarks (this machine)")
    for column in ("benchmark", "value", "unit", "target", "notes"):
        table.add_column(column)
    for result in results:
        value = f"{result.value:,.2f}" if abs(result.value) < 10 else f"{result.value:,.1f}"
        table.add_row(result.name, value, result.unit, result.target, result.notes)
    console.print(table)


main(sys.argv[1:])
