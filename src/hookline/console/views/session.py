"""Signing in and out, and setting up the first admin from the one-time link."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hookline.console.render import ROOT, redirect, render
from hookline.console.security import (
    ANON_CSRF_COOKIE,
    CSRF_FIELD,
    new_token,
    tokens_match,
)
from hookline.console.views.portal import cross_site_ok, portal_cookie
from hookline.console.visit import SESSION_COOKIE, Visit, refuse, services_of
from hookline.core.errors import NotFound, ValidationFailed
from hookline.services.users import SignedIn

SIGN_IN_FAILED = "That email and password do not match an account."


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _anonymous_form(
    request: Request, template: str, status_code: int = 200, **ctx: object
) -> Response:
    """A form shown before sign-in: its CSRF token is paired with a cookie of its own."""
    token = request.cookies.get(ANON_CSRF_COOKIE) or new_token()
    response = render(request, template, status_code=status_code, csrf=token, **ctx)
    response.set_cookie(
        ANON_CSRF_COOKIE,
        token,
        path=ROOT,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


async def _anonymous_token_ok(request: Request) -> bool:
    form = await request.form()
    return tokens_match(_field(form, CSRF_FIELD), request.cookies.get(ANON_CSRF_COOKIE, ""))


def _next_path(value: str) -> str:
    """Where to go after signing in: a console page only (never another site)."""
    if value.startswith(ROOT + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return ROOT + "/webhooks"


def _signed_in(request: Request, signed: SignedIn, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    max_age = int((signed.session.expires_at_ms - signed.session.created_at_ms) / 1000)
    response.set_cookie(
        SESSION_COOKIE,
        signed.token,
        max_age=max_age,
        path=ROOT,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(ANON_CSRF_COOKIE, path=ROOT)
    return response


async def sign_in_form(request: Request) -> Response:
    found = await services_of(request).users.session(request.cookies.get(SESSION_COOKIE))
    if found is not None:
        return redirect("/webhooks")
    return _anonymous_form(
        request, "sign_in.html", next=request.query_params.get("next", ""), email="", error=None
    )


async def sign_in(request: Request) -> Response:
    if not await _anonymous_token_ok(request):
        return refuse(request, None, "This form has expired. Reload the page and try again.", 403)
    form = await request.form()
    email, password = _field(form, "email").strip().lower(), _field(form, "password")
    target = _next_path(_field(form, "next"))
    address = request.client.host if request.client else ""
    throttle = request.app.state.throttle
    wait = throttle.retry_after_s(email, address)
    if wait is not None:
        response = _anonymous_form(
            request,
            "sign_in.html",
            status_code=429,
            next=target,
            email=email,
            error=f"Too many failed attempts. Try again in {wait} seconds.",
        )
        response.headers["Retry-After"] = str(wait)
        return response
    services = services_of(request)
    user = await services.users.authenticate(email, password)
    if user is None:
        throttle.failed(email, address)
        return _anonymous_form(
            request, "sign_in.html", status_code=401, next=target, email=email, error=SIGN_IN_FAILED
        )
    return _signed_in(request, await services.users.start_session(user), target)


async def sign_out(request: Request, visit: Visit) -> Response:
    if visit.portal is not None:
        await services_of(request).portal.sign_out(visit.session)
        ended = render(request, "portal_out.html", title="Signed out")
        ended.headers.append("set-cookie", portal_cookie("", 0, cross_site_ok(request)))
        return ended
    await services_of(request).users.sign_out(visit.session)
    response = redirect("/sign-in")
    response.delete_cookie(SESSION_COOKIE, path=ROOT)
    return response


async def setup_form(request: Request) -> Response:
    return _anonymous_form(
        request, "setup.html", token=request.query_params.get("token", ""), email="", errors={}
    )


async def setup(request: Request) -> Response:
    if not await _anonymous_token_ok(request):
        return refuse(request, None, "This form has expired. Reload the page and try again.", 403)
    form = await request.form()
    token, email = _field(form, "token"), _field(form, "email")
    password = _field(form, "password")
    if password != _field(form, "password_again"):
        return _anonymous_form(
            request,
            "setup.html",
            status_code=422,
            token=token,
            email=email,
            errors={"password_again": "The two passwords differ."},
        )
    services = services_of(request)
    try:
        user = await services.users.set_up_first_admin(token, email, password)
    except ValidationFailed as exc:
        return _anonymous_form(
            request,
            "setup.html",
            status_code=422,
            token=token,
            email=email,
            errors={exc.field: exc.reason},
        )
    except NotFound:
        return refuse(request, None, "This set-up link is unknown, used or expired.", 404)
    return _signed_in(request, await services.users.start_session(user), ROOT + "/webhooks")


async def account_form(request: Request, visit: Visit) -> Response:
    return render(request, "account.html", visit=visit, errors={})


async def change_password(request: Request, visit: Visit) -> Response:
    """The user's own new password; every session of theirs ends, this one too."""
    form = await request.form()
    new = _field(form, "new_password")
    try:
        if new != _field(form, "new_password_again"):
            raise ValidationFailed("new_password_again", "The two new passwords differ.")
        await services_of(request).users.change_password(
            visit.user, _field(form, "current_password"), new
        )
    except ValidationFailed as exc:
        field = "new_password" if exc.field == "password" else exc.field
        return render(
            request, "account.html", visit=visit, status_code=422, errors={field: exc.reason}
        )
    response = redirect("/sign-in")
    response.delete_cookie(SESSION_COOKIE, path=ROOT)
    return response


async def set_password_form(request: Request) -> Response:
    """The page of a one-time password link (a new user's, or an admin's reset)."""
    return _anonymous_form(
        request, "users/set_password.html", token=request.query_params.get("token", ""), errors={}
    )


async def set_password(request: Request) -> Response:
    if not await _anonymous_token_ok(request):
        return refuse(request, None, "This form has expired. Reload the page and try again.", 403)
    form = await request.form()
    token, password = _field(form, "token"), _field(form, "password")
    try:
        if password != _field(form, "password_again"):
            raise ValidationFailed("password_again", "The two passwords differ.")
        await services_of(request).users.set_password_from_link(token, password)
    except ValidationFailed as exc:
        return _anonymous_form(
            request,
            "users/set_password.html",
            status_code=422,
            token=token,
            errors={exc.field: exc.reason},
        )
    except NotFound:
        return refuse(request, None, "This password link is unknown, used or expired.", 410)
    response = redirect("/sign-in")
    response.delete_cookie(ANON_CSRF_COOKIE, path=ROOT)
    return response
