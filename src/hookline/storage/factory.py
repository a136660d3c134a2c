"""Choose the storage implementation by URL scheme."""

from __future__ import annotations

from hookline.core.errors import ValidationFailed
from hookline.storage.base import Storage


def open_storage(url: str, *, pool_size: int | None = None) -> Storage:
    """``sqlite:///path`` or ``postgresql://…`` (driver suffixes are accepted and replaced).
    ``pool_size``: PostgreSQL connections kept open (SQLite's process holds its own few)."""
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if scheme == "sqlite":
        from hookline.storage.sqlite import SqliteStorage

        return SqliteStorage(url)
    if scheme in ("postgresql", "postgres"):
        from hookline.storage.postgres import POOL_SIZE, PostgresStorage

        return PostgresStorage(
            url.replace("postgres://", "postgresql://", 1), pool_size=pool_size or POOL_SIZE
        )
    raise ValidationFailed("HOOKLINE_DATABASE_URL", "must start with sqlite:/// or postgresql://")
