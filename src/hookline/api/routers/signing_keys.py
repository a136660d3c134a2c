"""Signing keys of identities and of the organization (inkbox profile)."""

from __future__ import annotations

from fastapi import APIRouter

from hookline.api.deps import PrincipalDep, ServicesDep
from hookline.api.schemas.common import Out
from hookline.core.timefmt import iso_from_ms
from hookline.services.signing import KeyStatus

router = APIRouter(tags=["signing-keys"])


class SigningKeyOut(Out):
    signing_key: str
    created_at: str


class SigningKeyStatus(Out):
    configured: bool
    created_at: str | None

    @classmethod
    def of(cls, s: KeyStatus) -> SigningKeyStatus:
        at = iso_from_ms(s.created_at_ms) if s.created_at_ms is not None else None
        return cls(configured=s.configured, created_at=at)


async def _identity_id(services: ServicesDep, principal: PrincipalDep, handle: str) -> str:
    return (await services.owners.identity(principal, handle)).id


@router.post(
    "/identities/{agent_handle}/signing-key",
    status_code=201,
    operation_id="rotate_identity_signing_key",
)
async def rotate_identity_key(
    agent_handle: str, principal: PrincipalDep, services: ServicesDep
) -> SigningKeyOut:
    identity_id = await _identity_id(services, principal, agent_handle)
    key = await services.signing.rotate_key(principal, identity_id)
    status = await services.signing.key_status(principal, identity_id)
    return SigningKeyOut(signing_key=key, created_at=iso_from_ms(status.created_at_ms or 0))


@router.get(
    "/identities/{agent_handle}/signing-key", operation_id="get_identity_signing_key_status"
)
async def identity_key_status(
    agent_handle: str, principal: PrincipalDep, services: ServicesDep
) -> SigningKeyStatus:
    identity_id = await _identity_id(services, principal, agent_handle)
    return SigningKeyStatus.of(await services.signing.key_status(principal, identity_id))


@router.post("/signing-keys", status_code=201, operation_id="rotate_organization_signing_key")
async def rotate_org_key(principal: PrincipalDep, services: ServicesDep) -> SigningKeyOut:
    key = await services.signing.rotate_key(principal, None)
    status = await services.signing.key_status(principal, None)
    return SigningKeyOut(signing_key=key, created_at=iso_from_ms(status.created_at_ms or 0))


@router.get("/signing-keys", operation_id="get_organization_signing_key_status")
async def org_key_status(principal: PrincipalDep, services: ServicesDep) -> SigningKeyStatus:
    return SigningKeyStatus.of(await services.signing.key_status(principal, None))
