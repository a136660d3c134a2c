"""The ``hookline`` command. Every option also reads its ``HOOKLINE_*`` variable.

One module per command group registers its commands on the shared Typer ``app``.
"""

from __future__ import annotations

from hookline.cli import secrets, server  # noqa: F401  (registers their commands)
from hookline.cli._common import app


def main() -> None:
    app()


__all__ = ["app", "main"]
