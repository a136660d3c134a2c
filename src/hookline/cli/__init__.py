"""The ``hookline`` command. Every option also reads its ``HOOKLINE_*`` variable.

One module per command group registers its commands on the shared Typer ``app``; the order of
the imports is the order of ``hookline --help``.
"""

from __future__ import annotations

from hookline.cli import prune, secrets, server, users, verify  # noqa: F401

# isort: split
from hookline.cli import (  # noqa: F401
    deliveries,
    events,
    keys,
    listen,
    login,
    owners,
    replay,
    subscriptions,
)
from hookline.cli._common import app


def main() -> None:
    app()


__all__ = ["app", "main"]
