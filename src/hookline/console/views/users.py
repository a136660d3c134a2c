"""Users (admins only): the list, create with an initial password, disable, reset a
password. Every session of a disabled user, or of one whose password is reset, ends."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from hookline.console.forms import text
from hookline.console.render import ROOT, redirect, render
from hookline.console.visit import Visit, refuse, services_of
from hookline.core.errors import ValidationFailed
from hookline.core.users import ROLES

PAGE_SIZE = 200
ADMINS_ONLY = "Only admins see the users."


def _password(value: object) -> str:
    # as typed: spaces at either end are part of a password
    return value if isinstance(value, str) else ""


def _admin(request: Request, visit: Visit) -> Response | None:
    return None if visit.is_admin else refuse(request, visit, ADMINS_ONLY, 403)


async def index(request: Request, visit: Visit, **ctx: Any) -> Response:
    if (refused := _admin(request, visit)) is not None:
        return refused
    raw = request.query_params.get("offset", "0")
    offset = min(int(raw), 1_000_000_000) if raw.isdigit() else 0
    listed = await services_of(request).users.list(PAGE_SIZE + 1, offset)
    ctx.setdefault("errors", {})
    ctx.setdefault("values", {"role": "viewer"})
    return render(
        request,
        "users/index.html",
        visit=visit,
        users=listed[:PAGE_SIZE],
        roles=ROLES,
        next_offset=offset + PAGE_SIZE if len(listed) > PAGE_SIZE else None,
        **ctx,
    )


async def create(request: Request, visit: Visit) -> Response:
    if (refused := _admin(request, visit)) is not None:
        return refused
    form = await request.form()
    values = {k: text(form, k) for k in ("email", "role", "agent_handle")}
    users = services_of(request).users
    password = _password(form.get("password"))
    try:
        if password:
            await users.create(
                values["email"], password, values["role"], values["agent_handle"] or None
            )
        else:
            token = await users.create_with_link(
                values["email"], values["role"], values["agent_handle"] or None
            )
            return await index(request, visit, link=_link(request, token), status_code=201)
    except ValidationFailed as exc:
        return await index(
            request, visit, errors={exc.field: exc.reason}, values=values, status_code=422
        )
    return redirect("/users")


def _link(request: Request, token: str) -> str:
    return f"{request.url.scheme}://{request.url.netloc}{ROOT}/set-password?token={token}"


async def password_link(request: Request, visit: Visit) -> Response:
    """A one-time link with which the user sets a new password (shown once)."""
    if (refused := _admin(request, visit)) is not None:
        return refused
    form = await request.form()
    users = services_of(request).users
    token = await users.password_link(text(form, "email"))
    user = await users.by_email(text(form, "email"))
    return render(
        request, "users/user.html", visit=visit, user=user, errors={}, link=_link(request, token)
    )


async def user_form(request: Request, visit: Visit, **ctx: Any) -> Response:
    """A user's page: disable them, or set a new password."""
    if (refused := _admin(request, visit)) is not None:
        return refused
    user = await services_of(request).users.by_email(request.query_params.get("email", ""))
    ctx.setdefault("errors", {})
    return render(request, "users/user.html", visit=visit, user=user, **ctx)


async def disable(request: Request, visit: Visit) -> Response:
    if (refused := _admin(request, visit)) is not None:
        return refused
    form = await request.form()
    await services_of(request).users.disable(text(form, "email"))
    return redirect("/users")


async def reset_password(request: Request, visit: Visit) -> Response:
    if (refused := _admin(request, visit)) is not None:
        return refused
    form = await request.form()
    users = services_of(request).users
    email = text(form, "email")
    try:
        await users.reset_password(email, _password(form.get("password")))
    except ValidationFailed as exc:
        user = await users.by_email(email)
        return render(
            request,
            "users/user.html",
            visit=visit,
            user=user,
            errors={exc.field: exc.reason},
            status_code=422,
        )
    return redirect("/users")
