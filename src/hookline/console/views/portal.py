"""Opening a customer portal link: once, into a session scoped to its owner."""

from __future__ import annotations

import ipaddress

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hookline.console.render import ROOT, render
from hookline.console.security import PORTAL_MARK
from hookline.console.visit import PORTAL_COOKIE, services_of

GONE = "This portal link was used already or has expired. Ask for a new one."


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cross_site_ok(request: Request) -> bool:
    """Whether the cookie can be ``SameSite=None``, which browsers take only when ``Secure``:
    over HTTPS, and on loopback, where browsers keep Secure cookies over plain HTTP too
    (development and tests). Elsewhere over plain HTTP the portal works in a page of its own
    but not framed by another site."""
    return request.url.scheme == "https" or _loopback(request.url.hostname or "")


def portal_cookie(value: str, max_age: int, cross_site: bool) -> str:
    """The portal session's ``Set-Cookie`` (``max_age`` 0 removes it). Cross-site it is also
    ``Partitioned`` (CHIPS): kept for the platform's site only, so browsers that block
    third-party cookies still keep it for the frame it was set in. (Written by hand: the
    standard library writes the attribute only from Python 3.14.)"""
    parts = [f"{PORTAL_COOKIE}={value}", f"Max-Age={max_age}", f"Path={ROOT}", "HttpOnly"]
    parts += ["SameSite=None", "Secure", "Partitioned"] if cross_site else ["SameSite=Lax"]
    return "; ".join(parts)


async def open_link(request: Request) -> Response:
    opened = await services_of(request).portal.open(request.query_params.get("token", ""))
    if opened is None:
        response: Response = render(
            request, "error.html", status_code=410, title="Link used or expired", message=GONE
        )
    else:
        response = RedirectResponse(ROOT + "/webhooks", status_code=303)
        max_age = int((opened.session.expires_at_ms - opened.session.created_at_ms) / 1000)
        response.headers.append(
            "set-cookie", portal_cookie(opened.token, max_age, cross_site_ok(request))
        )
    # the link is opened inside the platform's page: this answer may be framed there too
    response.headers[PORTAL_MARK] = "1"
    return response
