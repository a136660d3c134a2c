"""Running Hookline: ``serve``, ``api``, ``worker``, ``migrate``, ``version``."""

from __future__ import annotations

from hookline import __version__
from hookline.cli._common import (
    SERVER_PANEL,
    DatabaseUrl,
    Debug,
    Host,
    LogLevel,
    Port,
    app,
    load_settings,
    run,
)


@app.command(rich_help_panel=SERVER_PANEL)
def serve(
    database_url: DatabaseUrl = None,
    host: Host = None,
    port: Port = None,
    log_level: LogLevel = None,
    debug: Debug = False,
) -> None:
    """Run the API and the delivery worker in one process (migrates on start)."""
    from hookline import server

    settings = load_settings(database_url=database_url, host=host, port=port, log_level=log_level)
    run(server.serve(settings, with_worker=True), debug=debug)


@app.command(rich_help_panel=SERVER_PANEL)
def api(
    database_url: DatabaseUrl = None,
    host: Host = None,
    port: Port = None,
    log_level: LogLevel = None,
    debug: Debug = False,
) -> None:
    """Run the API only (the schema must be current: see `hookline migrate`)."""
    from hookline import server

    settings = load_settings(database_url=database_url, host=host, port=port, log_level=log_level)
    run(server.serve(settings, with_worker=False), debug=debug)


@app.command(rich_help_panel=SERVER_PANEL)
def worker(
    database_url: DatabaseUrl = None, log_level: LogLevel = None, debug: Debug = False
) -> None:
    """Run a delivery worker only. Run as many as you like against PostgreSQL."""
    from hookline import server

    run(server.worker(load_settings(database_url=database_url, log_level=log_level)), debug=debug)


@app.command(rich_help_panel=SERVER_PANEL)
def migrate(
    database_url: DatabaseUrl = None, log_level: LogLevel = None, debug: Debug = False
) -> None:
    """Bring the database schema up to date, then exit."""
    from hookline import server

    run(server.migrate(load_settings(database_url=database_url, log_level=log_level)), debug=debug)
    print("schema is current")


@app.command(rich_help_panel=SERVER_PANEL)
def version() -> None:
    """Print the version."""
    print(__version__)
