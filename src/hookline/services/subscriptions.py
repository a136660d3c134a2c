"""Subscriptions: create, read, change, delete; their secrets and the owners' signing keys."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from hookline.core import ids, profiles, validation
from hookline.core.errors import Conflict, NotFound, ValidationFailed
from hookline.core.frozen import frozen
from hookline.core.models import Subscription
from hookline.core.routing import signing_key_owner
from hookline.services.clock import Clock
from hookline.services.destinations import DestinationCheck
from hookline.services.page import Page
from hookline.services.principal import Principal
from hookline.services.sealed_places import (
    key_place,
    open_headers,
    seal_headers,
    sub_place,
)
from hookline.services.secretbox import SecretBox
from hookline.services.subscription_rules import (
    MAX_IN_FLIGHT_LIMIT,
    MUTABLE,
    OWNER_FIELDS,
    SubscriptionInput,
    check_fields,
    held_action,
    owner_filter,
    pull_mode,
    resolve_owner,
    visible,
)
from hookline.storage.base import Storage
from hookline.storage.records import SubscriptionFilter, SubscriptionSecrets

log = logging.getLogger("hookline.subscriptions")


@frozen
class CreatedSubscription:
    subscription: Subscription
    #: the owner's signing key, when this create minted it (shown once)
    signing_key: str | None
    #: the subscription's own secret (per-subscription profiles)
    secret: str | None


class SubscriptionService:
    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        box: SecretBox,
        *,
        allow_http: bool,
        default_profile: str,
        destinations: DestinationCheck,
        wake: Callable[[], None] = lambda: None,
        revoke: Callable[[str], None] = lambda _: None,
        max_in_flight_limit: int = MAX_IN_FLIGHT_LIMIT,
    ) -> None:
        #: a subscription's cap above the worker's own could never be used whole: refused
        self._max_in_flight = min(max_in_flight_limit, MAX_IN_FLIGHT_LIMIT)
        self._wake = wake
        #: tells this process's worker that a subscription was disabled or deleted, before
        #: the request answers (other processes' workers: see storage/revocations.py)
        self._revoke = revoke
        self._destinations = destinations
        self._storage = storage
        self._clock = clock
        self._box = box
        self._allow_http = allow_http
        self._default_profile = default_profile

    def _check(self, changes: dict[str, Any]) -> dict[str, Any]:
        return check_fields(changes, allow_http=self._allow_http, max_in_flight=self._max_in_flight)

    # -- use cases ----------------------------------------------------------------------------
    async def create(self, principal: Principal, data: SubscriptionInput) -> CreatedSubscription:
        pull = pull_mode(data)
        fields = self._check(
            {
                **({} if pull else {"url": data.url}),
                "event_types": data.event_types,
                "profile": data.profile or self._default_profile,
                "headers": data.headers,
                "domains": data.domains,
                "retry_schedule": data.retry_schedule,
                "max_in_flight": data.max_in_flight,
                "rate_limit_per_second": data.rate_limit_per_second,
                "name": data.name,
                "description": data.description,
                "auth_token": data.auth_token,
                "enabled": data.enabled,
            }
        )
        mailbox_id, phone_id, ident_id, owner_identity = await resolve_owner(
            self._storage, principal, data
        )
        if pull:
            fields["url"] = ""  # nothing is POSTed: its consumer pulls
        else:
            await self._destinations.check(fields["url"], "url")
        now = self._clock.now_ms()
        auth_token = fields.pop("auth_token")
        # nothing is stored under a new subscription's names: a masked value is refused
        headers = validation.unmask_headers(fields.pop("headers"), {})
        sub_id = data.id or ids.new_uuid()
        sub = Subscription(
            id=sub_id,
            organization_id=principal.organization_id,
            mailbox_id=mailbox_id,
            phone_number_id=phone_id,
            agent_identity_id=ident_id,
            owner_identity_id=owner_identity,
            has_auth_token=auth_token is not None,
            source=data.source,
            created_at_ms=now,
            updated_at_ms=now,
            headers=validation.masked_headers(headers),
            mode=data.mode,
            **fields,
        )
        secret = ids.new_standard_secret()
        await self._storage.insert_subscription(
            sub,
            SubscriptionSecrets(
                auth_token_enc=(
                    self._box.seal(auth_token, sub_place("auth_token_enc", sub_id))
                    if auth_token
                    else None
                ),
                secret_enc=self._box.seal(secret, sub_place("secret_enc", sub_id)),
                headers_enc=seal_headers(self._box, headers, sub_id),
            ),
        )
        signing_key = None
        if sub.profile == profiles.INKBOX:
            signing_key = await self._mint_signing_key_if_missing(
                sub.organization_id, signing_key_owner(sub)
            )
        return CreatedSubscription(
            subscription=sub,
            signing_key=signing_key,
            secret=secret if sub.profile in profiles.PER_SUBSCRIPTION_SECRET else None,
        )

    async def ensure_signing_key(self, sub: Subscription) -> str | None:
        """Create the key that signs ``sub`` (inkbox profile) if its owner has none; the new
        key is returned, once."""
        if sub.profile != profiles.INKBOX:
            return None
        return await self._mint_signing_key_if_missing(sub.organization_id, signing_key_owner(sub))

    async def _mint_signing_key_if_missing(
        self, org_id: str, identity_id: str | None
    ) -> str | None:
        key, key_id = ids.new_plain_secret("whsec_"), ids.new_uuid()
        stored = await self._storage.put_signing_key(
            org_id,
            identity_id,
            self._box.seal(key, key_place(key_id)),
            self._clock.now_ms(),
            only_if_missing=True,
            key_id=key_id,
        )
        return key if stored else None

    async def list(
        self, principal: Principal, flt: SubscriptionFilter, limit: int = 1000, offset: int = 0
    ) -> Page[Subscription]:
        found = await self._storage.list_subscriptions(
            principal.organization_id, owner_filter(principal, flt), limit + 1, offset
        )
        return Page.of(found, limit)

    async def get(self, principal: Principal, sub_id: str) -> Subscription:
        sub = await self._storage.get_subscription(principal.organization_id, sub_id)
        if sub is None or not visible(principal, sub):
            raise NotFound("subscription", sub_id)
        return sub

    async def update(
        self, principal: Principal, sub_id: str, changes: Mapping[str, Any]
    ) -> Subscription:
        for key in changes:
            if key in OWNER_FIELDS:
                raise ValidationFailed(key, "the owner of a subscription cannot change")
            if key not in MUTABLE:
                raise ValidationFailed(key, "unknown field")
        current = await self.get(principal, sub_id)
        if "url" in changes and current.mode == "pull":
            raise ValidationFailed("url", "a pull subscription has no URL")
        requested = dict(changes)
        held = held_action(requested)
        checked = self._check(requested)
        if "url" in checked:
            await self._destinations.check(checked["url"], "url")
        secrets = None
        if "auth_token" in checked or "headers" in checked:
            secrets = await self._storage.subscription_secrets(principal.organization_id, sub_id)
            if secrets is None:
                raise NotFound("subscription", sub_id)
        if "auth_token" in checked:
            assert secrets is not None
            token = checked.pop("auth_token")
            sealed = self._box.seal(token, sub_place("auth_token_enc", sub_id)) if token else None
            secrets = replace(secrets, auth_token_enc=sealed)
        if "headers" in checked:
            assert secrets is not None
            stored = (
                dict(current.headers)  # stored plain by an earlier version
                if secrets.headers_enc is None
                else open_headers(self._box, secrets.headers_enc, sub_id)
            )
            real = validation.unmask_headers(checked["headers"], stored)
            checked["headers"] = validation.masked_headers(real)
            secrets = replace(secrets, headers_enc=seal_headers(self._box, real, sub_id))
        if checked.get("enabled") is True:
            checked["disabled_reason"] = None
        elif checked.get("enabled") is False and current.enabled:
            checked["disabled_reason"] = "disabled by request"
        updated = await self._storage.update_subscription(
            principal.organization_id, sub_id, checked, self._clock.now_ms(), secrets, held=held
        )
        if updated is None:
            raise NotFound("subscription", sub_id)
        if checked.get("enabled") is False:
            self._revoke(sub_id)
        if updated.enabled != current.enabled:
            log.info(
                "subscription %s %s by request",
                sub_id,
                "re-enabled" if updated.enabled else "disabled",
                extra={"subscription_id": sub_id},
            )
        if held == "send":
            self._wake()
        if updated.profile == profiles.INKBOX and current.profile != profiles.INKBOX:
            await self._mint_signing_key_if_missing(
                updated.organization_id, signing_key_owner(updated)
            )
        return updated

    async def get_pull(self, principal: Principal, sub_id: str) -> Subscription:
        """A pull subscription the principal may see (and so pull from and acknowledge)."""
        sub = await self.get(principal, sub_id)
        if sub.mode != "pull":
            raise Conflict("this is a push subscription: its deliveries are POSTed to its URL")
        return sub

    async def delete(self, principal: Principal, sub_id: str) -> None:
        await self.get(principal, sub_id)
        if not await self._storage.delete_subscription(
            principal.organization_id, sub_id, self._clock.now_ms()
        ):
            raise NotFound("subscription", sub_id)
        self._revoke(sub_id)

    async def recover(self, principal: Principal, sub_id: str, since_ms: int) -> int:
        """Re-queue the subscription's failed deliveries created since ``since_ms``."""
        sub = await self.get(principal, sub_id)
        now = self._clock.now_ms()
        if since_ms > now:
            raise ValidationFailed("since", "must not be in the future")
        count = await self._storage.requeue_failed(sub.organization_id, sub.id, since_ms, now)
        if count:
            self._wake()
        return count
