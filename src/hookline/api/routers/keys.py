"""API keys."""

from __future__ import annotations

from fastapi import APIRouter, Response

from hookline.api.deps import PrincipalDep, ServicesDep
from hookline.api.openapi import errors
from hookline.api.routers import API_PREFIX
from hookline.api.schemas.keys import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyOut
from hookline.core.timefmt import iso_from_ms

router = APIRouter(prefix=API_PREFIX + "/api-keys", tags=["api-keys"])


@router.post(
    "", status_code=201, operation_id="create_api_key", responses=errors(401, 403, 413, 422)
)
async def create_api_key(
    body: ApiKeyCreate, principal: PrincipalDep, services: ServicesDep
) -> ApiKeyCreated:
    """Create an API key (admin key). An `agent` key is bound to the identity named by
    `agent_handle`. The key itself is in this answer only; Hookline keeps a hash."""
    created = await services.keys.create(
        principal, scope=body.scope, agent_handle=body.agent_handle, name=body.name
    )
    return ApiKeyCreated(
        id=created.key.id,
        key=created.raw,
        scope=created.key.scope,
        agent_identity_id=created.key.agent_identity_id,
        created_at=iso_from_ms(created.key.created_at_ms),
    )


@router.get("", operation_id="list_api_keys", responses=errors(401, 403))
async def list_api_keys(principal: PrincipalDep, services: ServicesDep) -> ApiKeyList:
    """Every API key of the organization, revoked ones too, with a prefix of each key only (admin
    key)."""
    return ApiKeyList(api_keys=[ApiKeyOut.of(k) for k in await services.keys.list(principal)])


@router.delete(
    "/{key_id}",
    status_code=204,
    operation_id="revoke_api_key",
    responses=errors(401, 403, 404, 409),
)
async def revoke_api_key(key_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    """Revoke a key at once (admin key)."""
    await services.keys.revoke(principal, key_id)
    return Response(status_code=204)
