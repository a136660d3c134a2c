"""Signing material: owners' signing keys (inkbox profile) and subscriptions' own secrets."""

from __future__ import annotations

from hookline.core import ids, profiles
from hookline.core.errors import NotFound, ValidationFailed
from hookline.core.frozen import frozen
from hookline.core.models import Subscription
from hookline.core.routing import signing_key_owner
from hookline.services.clock import Clock
from hookline.services.principal import Principal
from hookline.services.sealed_places import key_place, open_headers, sub_place
from hookline.services.secretbox import SecretBox
from hookline.storage.base import Storage
from hookline.storage.records import SubscriptionSecrets

MAX_GRACE_S = 7 * 24 * 3600  # an old secret keeps signing for at most a week
DEFAULT_GRACE_S = 0


@frozen
class KeyStatus:
    configured: bool
    created_at_ms: int | None


class SigningService:
    def __init__(self, storage: Storage, clock: Clock, box: SecretBox) -> None:
        self._storage = storage
        self._clock = clock
        self._box = box

    # owners' signing keys -------------------------------------------------------------------
    async def rotate_key(self, principal: Principal, identity_id: str | None) -> str:
        """Create or replace the owner's key; the new key is returned once."""
        self._may_manage(principal, identity_id)
        key, key_id = ids.new_plain_secret("whsec_"), ids.new_uuid()
        await self._storage.put_signing_key(
            principal.organization_id,
            identity_id,
            self._box.seal(key, key_place(key_id)),
            self._clock.now_ms(),
            only_if_missing=False,
            key_id=key_id,
        )
        return key

    async def key_status(self, principal: Principal, identity_id: str | None) -> KeyStatus:
        self._may_manage(principal, identity_id)
        found = await self._storage.current_signing_key(principal.organization_id, identity_id)
        return KeyStatus(
            configured=found is not None, created_at_ms=found.created_ms if found else None
        )

    @staticmethod
    def _may_manage(principal: Principal, identity_id: str | None) -> None:
        if identity_id is None or identity_id != principal.identity_id:
            principal.require_admin()

    # subscriptions' secrets -----------------------------------------------------------------
    async def read_secret(self, sub: Subscription) -> str:
        secrets = await self._storage.subscription_secrets(sub.organization_id, sub.id)
        if secrets is None or secrets.secret_enc is None:
            raise NotFound("subscription secret", sub.id)
        return self._box.open(secrets.secret_enc, sub_place("secret_enc", sub.id))

    async def rotate_secret(self, sub: Subscription, grace_period_s: int | None) -> str:
        grace = DEFAULT_GRACE_S if grace_period_s is None else grace_period_s
        if not 0 <= grace <= MAX_GRACE_S:
            raise ValidationFailed("grace_period_s", f"must be between 0 and {MAX_GRACE_S}")
        old = await self._storage.subscription_secrets(sub.organization_id, sub.id)
        if old is None:
            raise NotFound("subscription", sub.id)
        now = self._clock.now_ms()
        new = ids.new_standard_secret()
        previous = None
        if grace and old.secret_enc is not None:
            # sealed anew for the column it moves to: a ciphertext is bound to its column
            plain = self._box.open(old.secret_enc, sub_place("secret_enc", sub.id))
            previous = self._box.seal(plain, sub_place("previous_secret_enc", sub.id))
        updated = SubscriptionSecrets(
            auth_token_enc=old.auth_token_enc,
            secret_enc=self._box.seal(new, sub_place("secret_enc", sub.id)),
            previous_secret_enc=previous,
            previous_secret_until_ms=now + grace * 1000 if previous else None,
            headers_enc=old.headers_enc,
        )
        await self._storage.update_subscription(sub.organization_id, sub.id, {}, now, updated)
        return new

    async def signing_secrets(self, sub: Subscription) -> list[str]:
        """Every key that signs ``sub``'s deliveries now, current first."""
        if sub.profile == profiles.INKBOX:
            found = await self._storage.current_signing_key(
                sub.organization_id, signing_key_owner(sub)
            )
            return [self._box.open(found.key_enc, key_place(found.id))] if found else []
        secrets = await self._storage.subscription_secrets(sub.organization_id, sub.id)
        if secrets is None or secrets.secret_enc is None:
            return []
        out = [self._box.open(secrets.secret_enc, sub_place("secret_enc", sub.id))]
        until = secrets.previous_secret_until_ms
        if secrets.previous_secret_enc and until is not None and until > self._clock.now_ms():
            out.append(
                self._box.open(
                    secrets.previous_secret_enc, sub_place("previous_secret_enc", sub.id)
                )
            )
        return out

    async def auth_token(self, sub: Subscription) -> str | None:
        secrets = await self._storage.subscription_secrets(sub.organization_id, sub.id)
        if secrets is None or secrets.auth_token_enc is None:
            return None
        return self._box.open(secrets.auth_token_enc, sub_place("auth_token_enc", sub.id))

    async def custom_headers(self, sub: Subscription) -> dict[str, str]:
        """The subscription's custom headers with their real values (what is sent)."""
        secrets = await self._storage.subscription_secrets(sub.organization_id, sub.id)
        if secrets is None or secrets.headers_enc is None:
            return dict(sub.headers)  # none, or stored plain by an earlier version
        return open_headers(self._box, secrets.headers_enc, sub.id)
