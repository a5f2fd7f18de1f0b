"""The `cartsim` command, which composes the services; nothing imports it."""

from cartsim.cli.commands import cli, main

__all__ = ["cli", "main"]
