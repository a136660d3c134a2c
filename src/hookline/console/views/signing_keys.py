"""Signing keys (inkbox profile): the organization's and each identity's status; create or
rotate one, the new key shown once."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from hookline.console.render import render
from hookline.console.visit import Visit, services_of

PAGE_SIZE = 50


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset", "0")
    return min(int(raw), 1_000_000_000) if raw.isdigit() else 0


async def index(request: Request, visit: Visit, **ctx: Any) -> Response:
    services = services_of(request)
    offset = _offset(request)
    org_status = None
    if visit.principal.is_admin:
        org_status = await services.signing.key_status(visit.principal, None)
    page = await services.owners.list_identities(visit.principal, PAGE_SIZE, offset)
    statuses = [(i, await services.signing.key_status(visit.principal, i.id)) for i in page.items]
    return render(
        request,
        "signing_keys/index.html",
        visit=visit,
        org_status=org_status,
        identities=statuses,
        next_offset=offset + PAGE_SIZE if page.has_more else None,
        **ctx,
    )


async def rotate_organization(request: Request, visit: Visit) -> Response:
    key = await services_of(request).signing.rotate_key(visit.principal, None)
    return await index(request, visit, new_key=key, new_key_of="the organization")


async def rotate_identity(request: Request, visit: Visit) -> Response:
    services = services_of(request)
    ident = await services.owners.identity(visit.principal, request.path_params["handle"])
    key = await services.signing.rotate_key(visit.principal, ident.id)
    return await index(request, visit, new_key=key, new_key_of=ident.agent_handle)
