"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from hookline import __version__
from hookline.api import errors
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

    app = FastAPI(
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
    # added first, so the body limit (added after) still wraps it
    app.add_middleware(PublishPath, services=services)
    app.add_middleware(BodyLimit, max_bytes=services.settings.max_body_bytes)
    return app
