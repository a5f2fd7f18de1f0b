"""The `cartsim` command, which composes the services; nothing imports it."""

from cartsim.cli import replay as _replay  # noqa: F401  (registers `cartsim replay`)
from cartsim.cli import tail as _tail  # noqa: F401  (registers `cartsim tail`)
from cartsim.cli import transform as _transform  # noqa: F401  (registers `cartsim transform`)
from cartsim.cli.commands import cli, main

__all__ = ["cli", "main"]
