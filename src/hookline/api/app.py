"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from hookline import __version__
from hookline.api import errors
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
    signing_keys,
    subscriptions,
)
from hookline.services.container import Services

API_PREFIX = "/api/v1"

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
        description="Webhook delivery for messaging, email and phone platforms.",
        lifespan=lifespan,
    )
    app.state.services = services
    errors.install(app)
    for module in (events, subscriptions, deliveries, owners, keys, signing_keys, catalog):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(inbox.router)
    app.include_router(health.router)
    # added first, so it runs inside BodyLimit, which bounds the body it reads
    app.add_middleware(JsonDepthLimit)
    app.add_middleware(BodyLimit, max_bytes=services.settings.max_body_bytes)
    app.publish_path = PublishPath(services, services.settings.max_body_bytes)
    return app
