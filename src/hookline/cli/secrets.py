"""Secrets at rest: ``rotate-secret-key`` (see docs/security.md for the whole procedure)."""

from __future__ import annotations

import typer

from hookline.cli._common import DatabaseUrl, LogLevel, app, err, load_settings, run
from hookline.config import Settings


@app.command("rotate-secret-key")
def rotate_secret_key(database_url: DatabaseUrl = None, log_level: LogLevel = None) -> None:
    """Re-encrypt every stored secret with the current master key.

    With HOOKLINE_SECRET_KEY set: it is the new key, and HOOKLINE_PREVIOUS_SECRET_KEYS
    (comma-separated) the old ones, accepted for opening only. Without it (an embedded
    SQLite database and its .key file): a new key is made and written first in the key
    file, the old one kept after it until every secret is sealed with the new one, then
    dropped. Interrupted, run it again: it finishes what was left.
    """
    settings = load_settings(database_url=database_url, log_level=log_level)
    run(_rotate(settings))


async def _rotate(settings: Settings) -> None:
    from hookline.services import master_key
    from hookline.services.clock import SystemClock
    from hookline.services.secretbox import new_master_key, write_key_file
    from hookline.storage import open_storage

    keys = master_key.master_keys(settings)
    if keys.created and keys.key_file is not None:
        keys.key_file.unlink(missing_ok=True)
        err.print(f"no key file {keys.key_file}: there is no key to rotate")
        raise typer.Exit(1)
    storage = open_storage(settings.database_url, pool_size=settings.database_pool_size)
    try:
        if not await storage.schema_is_current():
            err.print("the database schema is not current: run `hookline migrate` first")
            raise typer.Exit(1)
        # the keys at hand must open what is stored before anything is written
        await master_key.verify(storage, keys.box(), keys, SystemClock().now_ms())
        if keys.key_file is not None and not keys.previous:
            # the new key goes first (it seals), the old stays (it opens) until the end; with
            # more than one line a rotation was interrupted, and its new key is the first
            write_key_file(keys.key_file, [new_master_key(), keys.current])
            keys = master_key.master_keys(settings)
        box = keys.box()
        counts: dict[str, int] = {}

        def progress(table: str, rows: int) -> None:
            counts[table] = counts.get(table, 0) + rows

        done = await master_key.rotate(storage, box, progress=progress)
    finally:
        await storage.close()
    if keys.key_file is not None:
        write_key_file(keys.key_file, [keys.current])
        where = f"the key file {keys.key_file} now holds only the new key"
    else:
        where = "HOOKLINE_PREVIOUS_SECRET_KEYS can now be removed from every process"
    rows = ", ".join(f"{n} {table}" for table, n in counts.items())
    print(
        f"rotated to master key {box.key_id}: {done.rewritten} secrets sealed anew "
        f"({rows} rows read), {done.headers_sealed} header sets sealed; {where}"
    )
