"""API keys: authentication, bootstrap of the first admin key, and key management."""

from __future__ import annotations

import hashlib

from hookline.core import ids
from hookline.core.errors import NotFound, Unauthenticated, ValidationFailed
from hookline.core.frozen import frozen
from hookline.core.models import ApiKey, Organization, Scope
from hookline.services.clock import Clock
from hookline.services.principal import Principal
from hookline.storage.base import Storage

DEFAULT_ORG_NAME = "default"
PREFIX_LEN = 10  # characters of a key shown in listings


def hash_key(raw: str) -> str:
    """Keys carry 240 random bits, so one SHA-256 is enough to store them safely."""
    return hashlib.sha256(raw.encode()).hexdigest()


@frozen
class Bootstrap:
    organization: Organization
    #: a newly minted admin key to print once (None when one already existed or was given)
    new_admin_key: str | None


@frozen
class CreatedKey:
    key: ApiKey
    raw: str


class KeyService:
    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    async def bootstrap(self, admin_key: str | None) -> Bootstrap:
        """Ensure the default organization and an admin key for it."""
        now = self._clock.now_ms()
        org = await self._storage.ensure_default_organization(
            Organization(id=ids.new_org_id(), name=DEFAULT_ORG_NAME, created_at_ms=now)
        )
        if admin_key is not None:
            if await self._storage.api_key_by_hash(hash_key(admin_key)) is None:
                await self._storage.insert_api_key(
                    self._key(org.id, admin_key, "admin", None, "HOOKLINE_ADMIN_KEY", now),
                    hash_key(admin_key),
                )
            return Bootstrap(organization=org, new_admin_key=None)
        if await self._storage.count_active_admin_keys(org.id) > 0:
            return Bootstrap(organization=org, new_admin_key=None)
        created = await self._create(org.id, "admin", None, "first admin key")
        return Bootstrap(organization=org, new_admin_key=created.raw)

    async def authenticate(self, raw: str | None) -> Principal:
        if not raw:
            raise Unauthenticated("an API key is required (X-API-Key or Authorization: Bearer)")
        key = await self._storage.api_key_by_hash(hash_key(raw))
        if key is None or key.revoked_at_ms is not None:
            raise Unauthenticated("the API key is unknown or revoked")
        return Principal(
            organization_id=key.organization_id,
            scope=key.scope,
            identity_id=key.agent_identity_id,
            key_id=key.id,
        )

    async def create(
        self, principal: Principal, *, scope: Scope, agent_handle: str | None, name: str | None
    ) -> CreatedKey:
        principal.require_admin()
        identity_id = None
        if scope == "agent":
            if not agent_handle:
                raise ValidationFailed("agent_handle", "an agent key must name its identity")
            ident = await self._storage.identity_by_handle(principal.organization_id, agent_handle)
            if ident is None:
                raise ValidationFailed("agent_handle", f"no identity {agent_handle!r}")
            identity_id = ident.id
        elif agent_handle:
            raise ValidationFailed("agent_handle", "only agent keys are bound to an identity")
        return await self._create(principal.organization_id, scope, identity_id, name)

    async def list(self, principal: Principal) -> list[ApiKey]:
        principal.require_admin()
        return await self._storage.list_api_keys(principal.organization_id)

    async def revoke(self, principal: Principal, key_id: str) -> None:
        principal.require_admin()
        if not await self._storage.revoke_api_key(
            principal.organization_id, key_id, self._clock.now_ms()
        ):
            raise NotFound("API key", key_id)

    async def _create(
        self, org_id: str, scope: Scope, identity_id: str | None, name: str | None
    ) -> CreatedKey:
        raw = ids.new_api_key()
        key = self._key(org_id, raw, scope, identity_id, name, self._clock.now_ms())
        await self._storage.insert_api_key(key, hash_key(raw))
        return CreatedKey(key=key, raw=raw)

    @staticmethod
    def _key(
        org_id: str, raw: str, scope: Scope, identity_id: str | None, name: str | None, now: int
    ) -> ApiKey:
        return ApiKey(
            id=ids.new_uuid(),
            organization_id=org_id,
            prefix=raw[:PREFIX_LEN],
            scope=scope,
            agent_identity_id=identity_id,
            name=name,
            created_at_ms=now,
        )
