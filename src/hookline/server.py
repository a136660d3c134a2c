"""Process roles: ``serve`` (API + worker), ``api``, ``worker``, ``migrate``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI

from hookline.api import create_app
from hookline.api.request_head import HeadLimitedProtocol
from hookline.config import Settings
from hookline.console.app import create_console
from hookline.delivery.dispatcher import Dispatcher
from hookline.delivery.reporting import Report
from hookline.delivery.sender import Sender
from hookline.services import master_key
from hookline.services.container import Services
from hookline.services.keys import Bootstrap
from hookline.services.send_limits import bounds
from hookline.startup import StartupError, database_errors, listening_sockets

log = logging.getLogger("hookline")

#: how long a thread may run Python before the interpreter lets another have its lock (the
#: GIL: one thread runs Python at a time); the interpreter's default is 0.005
GIL_SWITCH_INTERVAL_S = 0.0005


class SchemaNotCurrent(StartupError):
    pass


async def prepare(services: Services, *, migrate: bool) -> Bootstrap:
    """Migrate (or check the schema is current), check the master key opens the stored
    secrets (refuse with ``WrongSecretKey`` if not), then make sure an admin key exists."""
    await prepare_schema(services, migrate=migrate)
    keys = services.master_keys
    try:
        await master_key.verify(services.storage, services.box, keys, services.clock.now_ms())
    except master_key.WrongSecretKey:
        if keys.created and keys.key_file is not None:
            # made a moment ago beside a database that has a key already: it is not the key
            keys.key_file.unlink(missing_ok=True)
        await services.storage.close()
        raise
    return await services.keys.bootstrap(services.settings.admin_key)


async def prepare_users(services: Services) -> None:
    """What the ``users`` commands need: on SQLite the schema brought up to date (as
    ``serve`` would), elsewhere a current one."""
    await prepare_schema(services, migrate=services.settings.is_sqlite)


async def prepare_schema(services: Services, *, migrate: bool) -> None:
    if migrate:
        await services.storage.migrate()
    elif not await services.storage.schema_is_current():
        raise SchemaNotCurrent("the database schema is not current: run `hookline migrate` first")


def build_sender(settings: Settings) -> Sender:
    return Sender(
        timeout_s=settings.delivery_timeout_s,
        body_cap_bytes=settings.response_body_cap_bytes,
        allowed_networks=settings.allowed_networks,
        # the worker's attempts, and on top the test sends, replays and calls (each bounded
        # on its own, so neither waits for a connection the other holds)
        max_connections=settings.max_in_flight
        + bounds(settings.max_in_flight, settings.delivery_timeout_s).total,
    )


def build_dispatcher(
    services: Services, sender: Sender, report: Report | None = None
) -> Dispatcher:
    s = services.settings
    dispatcher = Dispatcher(
        storage=services.storage,
        transport=sender,
        box=services.box,
        clock=services.clock,
        metrics=services.metrics,
        schedule=s.retry_schedule,
        timeout_s=s.delivery_timeout_s,
        max_in_flight=s.max_in_flight,
        max_in_flight_per_subscription=s.max_in_flight_per_subscription,
        poll_interval_s=s.poll_interval_s,
        disable_after_s=s.disable_after_s,
        on_disabled=services.publishing.announce_disabled,
        report=report,
        tracing=services.tracing,
        sends=services.send_limits,
    )
    services.wakers.append(dispatcher.wake)
    services.revokers.append(dispatcher.revoke)
    return dispatcher


@contextlib.asynccontextmanager
async def running_worker(services: Services, sender: Sender) -> AsyncIterator[Dispatcher]:
    """Run the dispatcher (and the database's wake-ups) for the life of the block."""
    s = services.settings
    report = Report(services.storage, services.metrics, s.log_summary_interval_s)
    dispatcher = build_dispatcher(services, sender, report)
    stop = asyncio.Event()
    # nothing is sent before other processes' revocations are heard (see Dispatcher.hearing)
    dispatcher.hearing(False)
    tasks = [
        asyncio.create_task(dispatcher.run(stop), name="hookline-dispatcher"),
        asyncio.create_task(report.run(stop), name="hookline-summary"),
        asyncio.create_task(services.storage.watch(dispatcher.wake, stop), name="hookline-watch"),
        asyncio.create_task(
            services.storage.watch_revocations(dispatcher.revoke, stop, hearing=dispatcher.hearing),
            name="hookline-revocations",
        ),
        asyncio.create_task(services.retention.keep(stop), name="hookline-retention"),
        asyncio.create_task(services.tasks.run(stop), name="hookline-tasks"),
    ]
    # this process's publishes hand their fresh deliveries straight to it
    services.publishing.hand_off_to(dispatcher.handoff)
    try:
        yield dispatcher
    finally:
        services.publishing.hand_off_to(None)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def _uvicorn(app: FastAPI, settings: Settings) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        # in json, uvicorn's lines go through the root logger's handler like the rest
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        lifespan="on",
        # the client's address from a trusted proxy's X-Forwarded-For (uvicorn's
        # FORWARDED_ALLOW_IPS, loopback by default), in front of the whole app: the publish road
        # limits failed authentications per address too, and behind a proxy each client must
        # count alone, not every client as the proxy
        proxy_headers=True,
        # uvicorn's 5 s closed idle connections that clients still held: the next request sent
        # on one was lost with a reset (docs/perf/2026-12-07-connection-resets.md)
        timeout_keep_alive=settings.keep_alive_timeout_s,
        # uvicorn's httptools protocol with the request head bounded in size and time
        http=HeadLimitedProtocol.configured(header_timeout_s=settings.header_timeout_s),
    )
    return uvicorn.Server(config)


async def serve(settings: Settings, *, with_worker: bool, announce: bool = True) -> None:
    """``hookline serve`` (with_worker) and ``hookline api``."""
    # the port first: one in use is found before any database work
    sockets = listening_sockets(settings.host, settings.port)
    try:
        await _serve_on(sockets, settings, with_worker=with_worker, announce=announce)
    finally:
        for sock in sockets:
            sock.close()


async def _serve_on(
    sockets: list[socket.socket], settings: Settings, *, with_worker: bool, announce: bool
) -> None:
    sender = build_sender(settings)
    with database_errors(settings):
        services = Services.build(settings, transport=sender)
        boot = await prepare(services, migrate=with_worker)
    if announce:
        _announce(settings, boot, with_worker)
        setup = await services.users.setup_token_if_no_users()
        if setup is not None:
            print(
                "No console user exists yet. Create the first admin, once, at:\n"
                f"  {base_url(settings)}/console/setup?token={setup}",
                flush=True,
            )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await sender.start()
        stop = asyncio.Event()
        # other processes' publishes (PostgreSQL), for the pulls waiting here: from the first
        heard: list[asyncio.Task[None]] = []
        services.pulls.hear_others_with(
            lambda: heard.append(
                asyncio.create_task(
                    services.storage.watch(services.pulls.wake, stop), name="hookline-watch-pulls"
                )
            )
        )
        try:
            if with_worker:
                async with running_worker(services, sender):
                    yield
            else:
                yield
        finally:
            stop.set()
            await asyncio.gather(*heard, return_exceptions=True)
            await sender.close()
            if services.tracing is not None:
                services.tracing.close()

    app = create_app(services, extra_lifespan=lifespan)
    # the console is served beside the API; each edge knows only the services beneath it
    app.mount("/console", create_console(services))
    _tune_runtime()
    await _uvicorn(app, settings).serve(sockets=sockets)


async def worker(settings: Settings) -> None:
    """``hookline worker``: deliver until SIGTERM or SIGINT, then finish in-flight attempts."""
    sender = build_sender(settings)
    with database_errors(settings):
        services = Services.build(settings, transport=sender)
    try:
        with database_errors(settings):
            await prepare(services, migrate=False)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("worker started on %s", _safe_url(settings.database_url))
        await sender.start()
        _tune_runtime()
        try:
            async with running_worker(services, sender):
                await stop.wait()
        finally:
            await sender.close()
        log.info("worker stopped")
    finally:
        if services.tracing is not None:
            services.tracing.close()
        await services.storage.close()


async def migrate(settings: Settings) -> None:
    with database_errors(settings):
        services = Services.build(settings)
    try:
        with database_errors(settings):
            await services.storage.migrate()
    finally:
        await services.storage.close()


def _tune_runtime() -> None:
    """The one interpreter setting of a long-running server process (named in the README).

    The event loop, which serves requests and sends webhooks, gets the interpreter's lock (one
    thread runs Python at a time) back sooner from the thread that runs SQLite's transactions
    (storage/sqlite.py): at the default interval, every batch of outcomes written there held up
    the requests and webhooks for the whole interval
    (docs/perf/2026-12-02-worker-thread-and-write-lock.md).

    The garbage collector keeps the interpreter's settings: with raised thresholds and
    ``gc.freeze()``, whatever a reference cycle held (once, a receiver's oversized answer)
    piled up until a rare full collection (docs/perf/2026-12-06-garbage-collector-defaults.md).
    """
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def _announce(settings: Settings, boot: Bootstrap, with_worker: bool) -> None:
    print(banner(settings, with_worker=with_worker), flush=True)
    if boot.new_admin_key:
        print(
            "A new admin API key was created for the default organization. It is shown only once:\n"
            f"  HOOKLINE_ADMIN_KEY={boot.new_admin_key}",
            flush=True,
        )


def base_url(settings: Settings) -> str:
    """Where ``serve`` and ``api`` answer, as a URL to print."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def banner(settings: Settings, *, with_worker: bool) -> str:
    """What ``serve`` and ``api`` print first: where to go, and which database is in use."""
    role = "API and worker" if with_worker else "API"
    base = base_url(settings)
    path = settings.sqlite_path
    # the file itself, wherever the process was started: a relative URL hides which it is
    database = str(path.resolve()) if path is not None else _safe_url(settings.database_url)
    return (
        f"Hookline {role} on {base}\n"
        f"  console   {base}/console/\n"
        f"  API docs  {base}/docs\n"
        f"  database  {database}"
    )


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{scheme}{sep}{user}@{host}"
    return url
