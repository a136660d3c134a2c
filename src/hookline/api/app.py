"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from hookline import __version__
from hookline.api import docs, errors, openapi, wire_docs
from hookline.api.json_depth import JsonDepthLimit
from hookline.api.limits import BodyLimit
from hookline.api.publish_path import PublishPath
from hookline.api.routers import (
    catalog,
    deliveries,
    events,
    health,
    inbox,
    keys,
    owners,
    portal_links,
    pulls,
    signing_keys,
    subscriptions,
    tasks,
)
from hookline.services.container import Services

DESCRIPTION = """Webhook delivery for messaging, email and phone platforms.

Authenticate with an API key, as `X-API-Key: <key>` or `Authorization: Bearer <key>` (the
**Authorize** button takes either). `admin` keys act on the whole organization; `agent` keys
only on what their identity owns. Every error answers `{"detail": ..., "errors": [{"field",
"message"}]}` (`errors` on 422). What Hookline POSTs to subscribers is described per wire
profile under *Webhooks*."""

TAGS = [
    {"name": "events", "description": "Publish events and see what became of them."},
    {"name": "subscriptions", "description": "Webhook subscriptions: where events go."},
    {"name": "deliveries", "description": "The delivery log, and replay."},
    {"name": "owners", "description": "Identities, mailboxes and phone numbers."},
    {"name": "api-keys", "description": "API keys (admin keys only)."},
    {"name": "signing-keys", "description": "Signing keys of the `inkbox` profile."},
    {
        "name": "portal-links",
        "description": "One-time links into the console for one owner (admin keys only).",
    },
    {"name": "tasks", "description": "Background tasks (bulk replay): progress and result."},
    {"name": "catalog", "description": "The event types Hookline knows."},
    {
        "name": "inbox-compatible",
        "description": "The Inbox-style webhooks API at `/v1/webhooks` (`inbox` profile).",
    },
    {"name": "operations", "description": "Health, readiness and metrics; no key needed."},
]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


class HooklineApp(FastAPI):
    """FastAPI, with the publish endpoints answered ahead of its middleware stack.

    ``POST /events`` and ``/events/batch`` are most of a busy server's requests; the stack's
    layers (telemetry checks, the error and exception middlewares, the body limit) each wrap
    the request and its every message, so those two go to ``PublishPath`` first, which keeps
    the body limit and the 500 answer itself."""

    publish_path: PublishPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        road = self.publish_path
        if road is not None and (headers := road.takes(scope)) is not None:
            await road(scope, receive, send, headers)
            return
        await super().__call__(scope, receive, send)


def create_app(services: Services, *, extra_lifespan: Lifespan | None = None) -> FastAPI:
    """The API over ``services``. ``extra_lifespan`` runs inside (e.g. the embedded worker)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            if extra_lifespan is None:
                yield
            else:
                async with extra_lifespan(app):
                    yield
        finally:
            await services.storage.close()

    app = HooklineApp(
        title="Hookline",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # /docs is served from the package's own files (docs.install), ReDoc not at all: the
        # stock pages load their scripts from a CDN
        docs_url=None,
        redoc_url=None,
        openapi_tags=TAGS,
    )
    app.state.services = services
    errors.install(app)
    for module in (
        events,
        subscriptions,
        pulls,
        deliveries,
        owners,
        keys,
        signing_keys,
        portal_links,
        tasks,
        catalog,
        inbox,
        health,
    ):
        # the routes as their modules built them: include_router would build each again
        app.router.routes.extend(module.router.routes)
    docs.install(app)
    wire_docs.install(app)
    openapi.install(app)
    # added first, so it runs inside BodyLimit, which bounds the body it reads
    app.add_middleware(JsonDepthLimit)
    app.add_middleware(BodyLimit, max_bytes=services.settings.max_body_bytes)
    app.publish_path = PublishPath(services, services.settings.max_body_bytes)
    return app
