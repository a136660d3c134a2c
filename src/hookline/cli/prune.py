"""``hookline prune``: retention on demand, against the database (like ``migrate``)."""

from __future__ import annotations

import contextlib
import gzip
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hookline.cli._common import SERVER_PANEL, DatabaseUrl, Debug, LogLevel, app, err, fail

if TYPE_CHECKING:
    from hookline.config import Settings
    from hookline.storage.records import PruneCounts, PrunedRows

_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_DURATION = re.compile(r"(\d+)([smhd])")


def parse_duration_s(text: str) -> int:
    """``30d``, ``12h``, ``45m``, ``90s`` in seconds; ValueError otherwise."""
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None:
        raise ValueError(f"{text!r} is not a duration such as 30d, 12h, 45m or 90s")
    seconds = int(found[1]) * _UNITS_S[found[2]]
    if seconds <= 0:
        raise ValueError("the duration must be more than zero")
    return seconds


def _counts(counts: PruneCounts) -> str:
    return f"{counts.events} events, {counts.deliveries} deliveries, {counts.attempts} attempts"


@app.command(rich_help_panel=SERVER_PANEL)
def prune(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            envvar="HOOKLINE_PRUNE_OLDER_THAN",
            show_envvar=True,
            help="Prune what is older than this: 30d, 12h, 45m, 90s.",
        ),
    ],
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            envvar="HOOKLINE_PRUNE_DRY_RUN",
            show_envvar=True,
            help="Count what would be pruned; delete nothing.",
        ),
    ] = False,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            envvar="HOOKLINE_PRUNE_EXPORT",
            show_envvar=True,
            help="Write what is pruned to this .jsonl.gz file first: one JSON object per "
            "event, with its deliveries and attempts.",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
    log_level: LogLevel = None,
    debug: Debug = False,
) -> None:
    """Prune final events, deliveries and attempts older than --older-than (nothing
    pending, delivering or held), in small batches, safe beside running workers."""
    from hookline.cli._common import load_settings, run

    try:
        seconds = parse_duration_s(older_than)
    except ValueError as exc:
        fail(f"--older-than: {exc}", 2)
    if export is not None and dry_run:
        fail("--export writes what is deleted: leave out --dry-run", 2)
    if export is not None and not export.parent.is_dir():
        fail(f"--export: no directory {str(export.parent)!r}", 2)
    settings = load_settings(database_url=database_url, log_level=log_level)
    run(_prune(settings, seconds * 1000, dry_run=dry_run, export=export), debug=debug)


async def _prune(
    settings: Settings, older_than_ms: int, *, dry_run: bool, export: Path | None
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from hookline.services.container import Services
    from hookline.services.retention import export_lines
    from hookline.startup import database_errors

    with database_errors(settings):
        services = Services.build(settings)
    try:
        with database_errors(settings):
            if not await services.storage.schema_is_current():
                fail("the database schema is not current: run `hookline migrate` first")
            retention = services.retention
            cutoff = retention.cutoff_ms(older_than_ms)
            expected = await retention.count(cutoff)
            if dry_run:
                print(f"would prune {_counts(expected)}")
                return
            progress = Progress(
                TextColumn("pruning"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows"),
                console=err,
            )
            with contextlib.ExitStack() as files, progress:
                out = files.enter_context(gzip.open(export, "wb")) if export else None

                def write(rows: PrunedRows) -> None:
                    assert out is not None
                    for line in export_lines(rows):
                        out.write(line)
                    out.flush()  # in the file before the batch is deleted

                task = progress.add_task("prune", total=max(expected.rows, 1))
                done = await retention.prune(
                    cutoff,
                    export=write if out is not None else None,
                    progress=lambda c: progress.advance(task, c.rows),
                )
                progress.update(task, total=max(done.rows, 1), completed=max(done.rows, 1))
            print(f"pruned {_counts(done)}")
    finally:
        await services.storage.close()
