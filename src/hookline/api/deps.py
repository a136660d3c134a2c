"""Dependencies shared by the routers (``Annotated`` aliases)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Scope

from hookline.services.container import Services
from hookline.services.principal import Principal


async def get_services(request: Request) -> Services:
    # async: FastAPI would run a plain function on a worker thread, a switch of threads
    # on every request
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


#: the two ways to present a key, declared as the OpenAPI document's security schemes (so
#: /docs has an Authorize button); not auto_error: a missing key is the services' 401, with
#: Hookline's error body
API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    description="An API key of scope `admin` or `agent`.",
    auto_error=False,
)
BEARER = HTTPBearer(
    scheme_name="Bearer",
    description="The same API key, as `Authorization: Bearer <key>`.",
    auto_error=False,
)


async def get_principal(
    request: Request,
    services: ServicesDep,
    x_api_key: Annotated[str | None, Depends(API_KEY_HEADER)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None,
) -> Principal:
    raw = x_api_key
    if raw is None and bearer is not None:
        raw = bearer.credentials
    return await services.keys.authenticate(raw, client=client_address(request.scope))


def client_address(scope: Scope) -> str | None:
    """The client's address, which failed authentications are limited by: the peer's, or
    behind a trusted proxy the one its ``X-Forwarded-For`` names (``server._uvicorn``)."""
    client = scope.get("client")
    return str(client[0]) if client else None


PrincipalDep = Annotated[Principal, Depends(get_principal)]


#: the largest ``offset`` a list takes: the databases' OFFSET is a signed 64-bit integer, and
#: past this no list holds rows anyway
MAX_OFFSET = 1_000_000_000

#: how many rows of a list to skip (``GET`` lists page with ``limit`` and ``offset``)
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
