"""The README is the user's reference: every setting and every command is in it."""

from __future__ import annotations

from pathlib import Path

from cartsim.cli import cli
from cartsim.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [f"CARTSIM_{name.upper()}" for name in Settings.model_fields]
    assert [v for v in missing if f"`{v}`" not in README] == []


def test_every_command_is_documented() -> None:
    shown = [name for name, command in cli.commands.items() if not command.hidden]
    assert [c for c in shown if f"`cartsim {c}" not in README] == []
