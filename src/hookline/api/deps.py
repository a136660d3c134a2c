"""Dependencies shared by the routers (``Annotated`` aliases)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request
from starlette.types import Scope

from hookline.services.container import Services
from hookline.services.principal import Principal


async def get_services(request: Request) -> Services:
    # async: FastAPI would run a plain function on a worker thread, a hop per request
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_principal(
    request: Request,
    services: ServicesDep,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    raw = x_api_key
    if raw is None and authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer":
            raw = token.strip()
    return await services.keys.authenticate(raw, client=client_address(request.scope))


def client_address(scope: Scope) -> str | None:
    """The peer's address, which failed authentications are limited by (behind a proxy,
    that is the proxy's)."""
    client = scope.get("client")
    return str(client[0]) if client else None


PrincipalDep = Annotated[Principal, Depends(get_principal)]


#: the largest ``offset`` a list takes: the databases' OFFSET is a signed 64-bit integer, and
#: past this no list holds rows anyway
MAX_OFFSET = 1_000_000_000

#: how many rows of a list to skip (``GET`` lists page with ``limit`` and ``offset``)
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
