"""API keys: the list (prefixes only), create (the key shown once), revoke."""

from __future__ import annotations

from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response

from hookline.console.forms import text
from hookline.console.render import redirect, render
from hookline.console.visit import Visit, services_of
from hookline.core.errors import ValidationFailed
from hookline.core.models import Scope

#: identities whose handles the list shows beside agent keys
HANDLES_SHOWN = 1000


async def index(request: Request, visit: Visit, **ctx: Any) -> Response:
    services = services_of(request)
    keys = await services.keys.list(visit.principal)
    known = await services.owners.list_identities(visit.principal, HANDLES_SHOWN, 0)
    ctx.setdefault("errors", {})
    ctx.setdefault("values", {"scope": "admin"})
    return render(
        request,
        "api_keys/index.html",
        visit=visit,
        keys=keys,
        handles={i.id: i.agent_handle for i in known.items},
        **ctx,
    )


async def create(request: Request, visit: Visit) -> Response:
    form = await request.form()
    scope, handle = text(form, "scope"), text(form, "agent_handle")
    values = {"scope": scope, "agent_handle": handle, "name": text(form, "name")}
    try:
        if scope not in ("admin", "agent"):
            raise ValidationFailed("scope", "choose admin or agent")
        created = await services_of(request).keys.create(
            visit.principal,
            scope=cast(Scope, scope),
            agent_handle=handle or None,
            name=values["name"] or None,
        )
    except ValidationFailed as exc:
        return await index(
            request, visit, errors={exc.field: exc.reason}, values=values, status_code=422
        )
    return await index(request, visit, new_key=created.raw, status_code=201)


async def revoke_form(request: Request, visit: Visit) -> Response:
    keys = await services_of(request).keys.list(visit.principal)
    key_id = request.path_params["id"]
    key = next((k for k in keys if k.id == key_id and k.revoked_at_ms is None), None)
    if key is None:
        return render(
            request,
            "error.html",
            visit=visit,
            status_code=404,
            title="Not found",
            message="No active API key has that id.",
        )
    return render(request, "api_keys/revoke.html", visit=visit, key=key)


async def revoke(request: Request, visit: Visit) -> Response:
    await services_of(request).keys.revoke(visit.principal, request.path_params["id"])
    return redirect("/api-keys")
