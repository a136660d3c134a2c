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

from hookline.console.render import ROOT, render
from hookline.console.security import submitted_token, tokens_match
from hookline.core.users import ConsoleSession, User
from hookline.services.container import Services
from hookline.services.principal import Principal
from hookline.services.users import principal_of

SESSION_COOKIE = "hookline_session"

View = Callable[[Request, "Visit"], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Visit:
    user: User
    session: ConsoleSession
    principal: Principal

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
    """``view`` for signed-in users. A request other than GET must carry the session's CSRF
    token; with ``changes`` (all but sign-out) a viewer's is refused."""

    async def endpoint(request: Request) -> Response:
        found = await services_of(request).users.session(request.cookies.get(SESSION_COOKIE))
        if found is None:
            return _to_sign_in(request)
        session, user = found
        visit = Visit(user=user, session=session, principal=principal_of(user))
        if request.method not in ("GET", "HEAD"):
            if not tokens_match(await submitted_token(request), visit.csrf):
                return refuse(
                    request, visit, "This form has expired. Go back, reload and try again.", 403
                )
            if changes and not visit.can_write:
                return refuse(request, visit, "A viewer cannot change anything.", 403)
        return await view(request, visit)

    return endpoint
