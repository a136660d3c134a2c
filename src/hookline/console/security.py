"""Headers every console answer carries, and the CSRF tokens of its forms."""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: no inline script or style anywhere: htmx and the console's own script are files of ours
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
#: set by a portal session's answers (and removed before sending): frame them for the
#: origins of HOOKLINE_PORTAL_FRAME_ANCESTORS instead of for nobody
PORTAL_MARK = "X-Hookline-Portal"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
#: the anonymous forms' (sign-in, set-up) token, checked against a cookie of its own
ANON_CSRF_COOKIE = "hookline_csrf"


class SecurityHeaders:
    """Adds ``HEADERS`` to every answer; pages (not static files) are never cached, since
    they show secrets and each user's own data."""

    def __init__(self, app: ASGIApp, portal_frame_ancestors: tuple[str, ...] = ()) -> None:
        self.app = app
        self.portal_headers = dict(HEADERS)
        if portal_frame_ancestors:
            self.portal_headers["Content-Security-Policy"] = CSP.replace(
                "frame-ancestors 'none'", "frame-ancestors " + " ".join(portal_frame_ancestors)
            )
            # the CSP says who may frame; the older header can only say nobody or the same site
            del self.portal_headers["X-Frame-Options"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = "/static/" in scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                chosen = HEADERS
                if PORTAL_MARK in headers:
                    del headers[PORTAL_MARK]
                    chosen = self.portal_headers
                for name, value in chosen.items():
                    headers[name] = value
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def submitted_token(request: Request) -> str:
    """The CSRF token a request carries: htmx's header, else the form's hidden field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = await request.form()
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else ""


def tokens_match(given: str, expected: str) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(given, expected)
