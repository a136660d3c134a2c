"""Dependencies shared by the routers (``Annotated`` aliases)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from hookline.services.container import Services
from hookline.services.principal import Principal


async def get_services(request: Request) -> Services:
    # async: FastAPI would run a plain function on a worker thread, a hop per request
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_principal(
    services: ServicesDep,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    raw = x_api_key
    if raw is None and authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer":
            raw = token.strip()
    return await services.keys.authenticate(raw)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
