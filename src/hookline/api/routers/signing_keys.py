"""Signing keys of identities and of the organization (inkbox profile)."""

from __future__ import annotations

from fastapi import APIRouter

from hookline.api.deps import PrincipalDep, ServicesDep
from hookline.api.openapi import errors
from hookline.api.routers import API_PREFIX
from hookline.api.schemas.common import Out
from hookline.core.timefmt import iso_from_ms
from hookline.services.signing import KeyStatus

router = APIRouter(prefix=API_PREFIX, tags=["signing-keys"])


class SigningKeyOut(Out):
    """A new signing key: shown this once."""

    signing_key: str
    """The key (`whsec_...`); the HMAC key is the UTF-8 bytes of the text after `whsec_`."""
    created_at: str
    """When it was made (ISO 8601)."""


class SigningKeyStatus(Out):
    """Whether a signing key is set."""

    configured: bool
    """Whether there is a signing key."""
    created_at: str | None
    """When it was made (ISO 8601), if there is one."""

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
    responses=errors(401, 404),
)
async def rotate_identity_key(
    agent_handle: str, principal: PrincipalDep, services: ServicesDep
) -> SigningKeyOut:
    """Create or rotate the identity's signing key (profile `inkbox`); the key is in this answer
    only. The old key stops signing at once. An agent key may rotate its own identity's key."""
    identity_id = await _identity_id(services, principal, agent_handle)
    key = await services.signing.rotate_key(principal, identity_id)
    status = await services.signing.key_status(principal, identity_id)
    return SigningKeyOut(signing_key=key, created_at=iso_from_ms(status.created_at_ms or 0))


@router.get(
    "/identities/{agent_handle}/signing-key",
    operation_id="get_identity_signing_key_status",
    responses=errors(401, 404),
)
async def identity_key_status(
    agent_handle: str, principal: PrincipalDep, services: ServicesDep
) -> SigningKeyStatus:
    """Whether the identity has a signing key, and since when."""
    identity_id = await _identity_id(services, principal, agent_handle)
    return SigningKeyStatus.of(await services.signing.key_status(principal, identity_id))


@router.post(
    "/signing-keys",
    status_code=201,
    operation_id="rotate_organization_signing_key",
    responses=errors(401, 403),
)
async def rotate_org_key(principal: PrincipalDep, services: ServicesDep) -> SigningKeyOut:
    """Create or rotate the organization's signing key, which signs organization-wide `inkbox`
    subscriptions (admin key); the key is in this answer only."""
    key = await services.signing.rotate_key(principal, None)
    status = await services.signing.key_status(principal, None)
    return SigningKeyOut(signing_key=key, created_at=iso_from_ms(status.created_at_ms or 0))


@router.get(
    "/signing-keys", operation_id="get_organization_signing_key_status", responses=errors(401, 403)
)
async def org_key_status(principal: PrincipalDep, services: ServicesDep) -> SigningKeyStatus:
    """Whether the organization has a signing key, and since when (admin key)."""
    return SigningKeyStatus.of(await services.signing.key_status(principal, None))
