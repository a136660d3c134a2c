"""API keys: authentication, bootstrap of the first admin key, and key management.

Two kinds of key are stored two ways. Generated keys carry 240 random bits: one SHA-256 of
them is as safe as any slow hash and is found by an index lookup. An operator-chosen key
(``HOOKLINE_ADMIN_KEY``) may be guessable, so it is stored as an argon2id hash with its own
salt (services/argon2id.py), found by its short stored prefix and verified. The hash is not
keyed with
``HOOKLINE_SECRET_KEY``: that key is meant to be rotatable, and the API keys must survive
it.

Verifying argon2id is slow on purpose, so a successful verification is remembered in this
process's memory only, by a SHA-256 of the key, and never written anywhere; every request
still reads the key's row (a cached read that key writes drop), so revocation is immediate.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hookline.core import ids
from hookline.core.errors import NotFound, TooManyRequests, Unauthenticated, ValidationFailed
from hookline.core.frozen import frozen
from hookline.core.models import ApiKey, Organization, Scope
from hookline.services import argon2id
from hookline.services.auth_throttle import AuthThrottle
from hookline.services.clock import Clock
from hookline.services.principal import Principal
from hookline.storage.base import Storage

T = TypeVar("T")

log = logging.getLogger("hookline.keys")

DEFAULT_ORG_NAME = "default"
PREFIX_LEN = 10  # characters of a generated key shown in listings
#: characters of an operator-chosen key stored in the clear to find its row: few, because
#: such a key may be as short as 16 characters and the rest must stay unknown
OPERATOR_PREFIX_LEN = 4
OPERATOR_KEY_NAME = "HOOKLINE_ADMIN_KEY"
ARGON2_SCHEME = "$argon2"  # how an argon2 hash string starts
VERIFIED_ENTRIES = 1_000  # operator keys remembered as verified; past this, start over
#: argon2id runs on threads of its own, this many: each holds its memory cost while it runs,
#: and a flood of wrong keys must not hold up the other users of the loop's default threads
ARGON2_THREADS = 2


def hash_key(raw: str) -> str:
    """Generated keys carry 240 random bits, so one SHA-256 is enough to store them safely."""
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
    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        hasher: PasswordHasher | None = None,
        throttle: AuthThrottle | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._hasher = hasher or argon2id.hasher()
        self._throttle = throttle or AuthThrottle()
        #: SHA-256 of an operator key → its argon2 hash, once verified (memory only)
        self._verified: dict[str, str] = {}
        self._argon2_threads = ThreadPoolExecutor(ARGON2_THREADS, "hookline-argon2")

    async def bootstrap(self, admin_key: str | None) -> Bootstrap:
        """Ensure the default organization and an admin key for it.

        ``HOOKLINE_ADMIN_KEY`` says "this is an admin key": if its row was revoked, it is
        reinstated (to retire it, unset the variable), and a row from before keys like it
        were hashed with argon2id is rehashed.
        """
        now = self._clock.now_ms()
        org = await self._storage.ensure_default_organization(
            Organization(id=ids.new_org_id(), name=DEFAULT_ORG_NAME, created_at_ms=now)
        )
        if admin_key is not None:
            await self._ensure_operator_key(org.id, admin_key, now)
            return Bootstrap(organization=org, new_admin_key=None)
        if await self._storage.count_active_admin_keys(org.id) > 0:
            return Bootstrap(organization=org, new_admin_key=None)
        created = await self._create(org.id, "admin", None, "first admin key")
        return Bootstrap(organization=org, new_admin_key=created.raw)

    async def authenticate(self, raw: str | None, *, client: str | None = None) -> Principal:
        """The caller a key stands for. ``client`` (its address) limits failed attempts."""
        if not raw:
            raise Unauthenticated("an API key is required (X-API-Key or Authorization: Bearer)")
        if client is not None:
            wait_s = self._throttle.retry_in_s(client, self._clock.now_ms())
            if wait_s is not None:
                raise TooManyRequests(
                    f"too many failed authentications from this address; retry in {wait_s} s",
                    wait_s,
                )
        key = await self._find(raw)
        if key is None or key.revoked_at_ms is not None:
            if client is not None:
                self._throttle.failed(client, self._clock.now_ms())
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
        """Revoke a key at once; never the organization's last active admin key (409),
        which would leave nobody able to manage it."""
        principal.require_admin()
        if not await self._storage.revoke_api_key(
            principal.organization_id, key_id, self._clock.now_ms(), keep_an_admin=True
        ):
            raise NotFound("API key", key_id)

    # -- finding keys ---------------------------------------------------------------------------
    async def _find(self, raw: str) -> ApiKey | None:
        """The key's row, revoked or not; None if no key is ``raw``."""
        digest = hash_key(raw)
        stored = self._verified.get(digest)
        if stored is not None:
            key = await self._storage.api_key_by_hash(stored)
            if key is not None:
                return key
            self._verified.pop(digest, None)  # rehashed since: verify again
        key = await self._storage.api_key_by_hash(digest)
        if key is not None:
            return key
        return await self._operator_key(raw, digest)

    async def _operator_key(self, raw: str, digest: str) -> ApiKey | None:
        """The operator-chosen key ``raw`` is, found by prefix and verified with argon2id."""
        candidates = await self._storage.api_keys_by_prefix(
            raw[:OPERATOR_PREFIX_LEN], ARGON2_SCHEME
        )
        for key, stored in candidates:
            # argon2 is slow on purpose (that is what makes guessing costly): off the event loop
            if await self._off_loop(self._verify, stored, raw):
                self._remember(digest, stored)
                return key
        return None

    def _remember(self, digest: str, stored: str) -> None:
        """Keep, in this process's memory only, that the key of ``digest`` is ``stored``."""
        if len(self._verified) >= VERIFIED_ENTRIES:
            self._verified.clear()
        self._verified[digest] = stored

    async def _off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._argon2_threads, fn, *args)

    def _verify(self, stored: str, raw: str) -> bool:
        try:
            return self._hasher.verify(stored, raw)
        except (VerificationError, InvalidHashError):
            return False

    async def _ensure_operator_key(self, org_id: str, raw: str, now: int) -> None:
        prefix = raw[:OPERATOR_PREFIX_LEN]
        digest = hash_key(raw)
        key = await self._operator_key(raw, digest)
        if key is not None:
            if key.revoked_at_ms is not None:
                stored = self._verified[digest]
                await self._storage.reinstate_api_key(key.id, key_hash=stored, prefix=prefix)
                log.warning("%s had been revoked: reinstated", OPERATOR_KEY_NAME)
            return
        stored = await self._off_loop(self._hasher.hash, raw)
        self._remember(digest, stored)  # made from the key itself: no need to verify it again
        legacy = await self._storage.api_key_by_hash(digest)
        if legacy is not None:
            # stored before operator keys were hashed with argon2id: rehash it in place
            await self._storage.reinstate_api_key(legacy.id, key_hash=stored, prefix=prefix)
            if legacy.revoked_at_ms is not None:
                log.warning("%s had been revoked: reinstated", OPERATOR_KEY_NAME)
            return
        key = self._key(org_id, prefix, "admin", None, OPERATOR_KEY_NAME, now)
        await self._storage.insert_api_key(key, stored)

    async def _create(
        self, org_id: str, scope: Scope, identity_id: str | None, name: str | None
    ) -> CreatedKey:
        raw = ids.new_api_key()
        key = self._key(org_id, raw[:PREFIX_LEN], scope, identity_id, name, self._clock.now_ms())
        await self._storage.insert_api_key(key, hash_key(raw))
        return CreatedKey(key=key, raw=raw)

    @staticmethod
    def _key(
        org_id: str, prefix: str, scope: Scope, identity_id: str | None, name: str | None, now: int
    ) -> ApiKey:
        return ApiKey(
            id=ids.new_uuid(),
            organization_id=org_id,
            prefix=prefix,
            scope=scope,
            agent_identity_id=identity_id,
            name=name,
            created_at_ms=now,
        )
