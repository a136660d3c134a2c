"""The console's ASGI app, mounted at ``/console`` by the server, beside the API."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

# the API's table of statuses, the one place they are chosen (a page shows the same status)
from hookline.api.errors import domain_error_body
from hookline.console.render import render
from hookline.console.security import SecurityHeaders
from hookline.console.throttle import SignInThrottle
from hookline.console.views import (
    attempts,
    pages,
    session,
    webhook_actions,
    webhook_replay,
    webhooks,
)
from hookline.console.views.routes import pages_routes
from hookline.console.visit import page
from hookline.core.errors import HooklineError
from hookline.services.container import Services

_STATIC = Path(__file__).parent / "static"


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HooklineError)
    status, _, headers = domain_error_body(exc)
    title = (
        "Not found"
        if status == 404
        else "Not allowed"
        if status in (401, 403)
        else "Unavailable"
        if status == 503
        else "Error"
    )
    page = render(request, "error.html", status_code=status, title=title, message=exc.message)
    if "Retry-After" in headers:  # an outage: when to come back
        page.headers["Retry-After"] = headers["Retry-After"]
    return page


def create_console(services: Services) -> Starlette:
    get, post = ["GET"], ["POST"]
    routes = [
        Route("/", page(pages.home), methods=get),
        Route("/sign-in", session.sign_in_form, methods=get),
        Route("/sign-in", session.sign_in, methods=post),
        Route("/sign-out", page(session.sign_out, changes=False), methods=post),
        Route("/account", page(session.account_form), methods=get),
        # a viewer may change its own password: that changes nothing of the organization's
        Route("/account/password", page(session.change_password, changes=False), methods=post),
        Route("/setup", session.setup_form, methods=get),
        Route("/setup", session.setup, methods=post),
        Route("/webhooks", page(webhooks.listing), methods=get),
        Route("/webhooks/new", page(webhooks.new_form), methods=get),
        Route("/webhooks/new", page(webhooks.create), methods=post),
        Route("/webhooks/{id}", page(webhooks.detail), methods=get),
        Route("/webhooks/{id}/edit", page(webhooks.edit_form), methods=get),
        Route("/webhooks/{id}/edit", page(webhooks.edit), methods=post),
        Route("/webhooks/{id}/secret", page(webhooks.secret), methods=get),
        Route("/webhooks/{id}/rotate", page(webhooks.rotate), methods=post),
        Route("/webhooks/{id}/enable", page(webhooks.enable), methods=post),
        Route("/webhooks/{id}/disable", page(webhooks.disable), methods=post),
        Route("/webhooks/{id}/delete", page(webhooks.delete_form), methods=get),
        Route("/webhooks/{id}/delete", page(webhooks.delete), methods=post),
        *webhook_actions.routes(),
        *webhook_replay.routes(),
        Route("/webhooks/{id}/attempts", page(attempts.log_fragment), methods=get),
        Route("/webhooks/{id}/attempts/{attempt_id}", page(attempts.attempt), methods=get),
        Route("/webhooks/{id}/attempts/{attempt_id}/replay", page(attempts.replay), methods=post),
        Route("/catalog", page(pages.catalog), methods=get),
        *pages_routes(),
        Mount("/static", StaticFiles(directory=_STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                SecurityHeaders,
                portal_frame_ancestors=services.settings.portal_frame_ancestors,
            )
        ],
        exception_handlers={HooklineError: _domain_error},
    )
    app.state.services = services
    app.state.throttle = SignInThrottle(services.settings.console_sign_in_limit)
    return app
