"""Who is using the console: the session behind the cookie, and what it may do.

Every signed-in view is wrapped by ``page``, which finds the session (or sends the browser to
sign in), refuses a change without the session's CSRF token, and refuses every change of a
viewer; views then only parse, call a service with ``visit.principal``, and render.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hookline.console.render import PORTAL_MENU, ROOT, render
from hookline.console.security import PORTAL_MARK, submitted_token, tokens_match
from hookline.core.portal import PortalScope
from hookline.core.users import ConsoleSession, User
from hookline.services.container import Services
from hookline.services.portal import principal_of_portal
from hookline.services.principal import Principal
from hookline.services.users import principal_of

SESSION_COOKIE = "hookline_session"
#: a portal link's session: a cookie of its own, made to work inside another site's iframe
PORTAL_COOKIE = "hookline_portal"
VIEWER_REFUSED = "A viewer cannot change anything."

View = Callable[[Request, "Visit"], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


#: where a portal session may go: its menu's pages, and out
PORTAL_PATHS = (*PORTAL_MENU, "/sign-out")


@dataclass(frozen=True)
class Visit:
    user: User
    session: ConsoleSession
    principal: Principal
    #: the owner a portal link's session is bound to (None for a signed-in user)
    portal: PortalScope | None = None

    @property
    def can_write(self) -> bool:
        return self.user.role != "viewer"

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    @property
    def csrf(self) -> str:
        return self.session.csrf_secret


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def refuse(request: Request, visit: Visit | None, message: str, status_code: int) -> Response:
    return render(
        request,
        "error.html",
        visit=visit,
        status_code=status_code,
        title="Not allowed",
        message=message,
    )


def _to_sign_in(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"{ROOT}/sign-in?next={quote(target, safe='')}"
    if request.headers.get("HX-Request"):
        # htmx would swap the sign-in page into a fragment: have it load the page instead
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def page(view: View, *, changes: bool = True) -> Endpoint:
    """``view`` for signed-in users and portal sessions (on the portal's pages only)."""

    async def endpoint(request: Request) -> Response:
        visit = await _visit(request)
        if visit is None:
            return _to_sign_in(request)
        if visit.portal is not None:
            path = request.url.path.removeprefix(ROOT)
            if not any(path == p or path.startswith(p + "/") for p in PORTAL_PATHS):
                response = refuse(request, visit, "This page is not part of the portal.", 403)
            else:
                response = await _checked(view, request, visit, changes)
            response.headers[PORTAL_MARK] = "1"
            return response
        return await _checked(view, request, visit, changes)

    return endpoint


async def _visit(request: Request) -> Visit | None:
    services = services_of(request)
    found = await services.users.session(request.cookies.get(SESSION_COOKIE))
    if found is not None:
        session, user = found
        return Visit(user=user, session=session, principal=principal_of(user))
    portal = await services.portal.session(request.cookies.get(PORTAL_COOKIE))
    if portal is None:
        return None
    session, scope = portal
    # the portal's visitor is no user of Hookline's: an agent of the identity, in the pages
    user = User(
        id=session.user_id,
        organization_id=scope.organization_id,
        email=scope.label,
        role="agent",
        agent_identity_id=scope.agent_identity_id,
        created_at_ms=session.created_at_ms,
        password_changed_at_ms=session.created_at_ms,
    )
    return Visit(user=user, session=session, principal=principal_of_portal(scope), portal=scope)


async def _checked(view: View, request: Request, visit: Visit, changes: bool) -> Response:
    """A request other than GET must carry the session's CSRF token; with ``changes`` (all
    but sign-out) a viewer's is refused."""
    if request.method not in ("GET", "HEAD"):
        if not tokens_match(await submitted_token(request), visit.csrf):
            return refuse(
                request, visit, "This form has expired. Go back, reload and try again.", 403
            )
        if changes and not visit.can_write:
            return refuse(request, visit, VIEWER_REFUSED, 403)
    return await view(request, visit)
