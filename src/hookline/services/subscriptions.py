"""Subscriptions: create, read, change, delete; their secrets and the owners' signing keys."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from hookline.core import ids, profiles, retry, validation
from hookline.core.catalog import CATALOG
from hookline.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
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
from hookline.storage.base import Storage
from hookline.storage.records import HeldAction, SubscriptionFilter, SubscriptionSecrets

log = logging.getLogger("hookline.subscriptions")

MAX_IN_FLIGHT_LIMIT = 1000
MAX_RATE_PER_S = 10_000.0
MAX_TEXT = 2000
_UNSET: Any = object()


@dataclass(frozen=True, kw_only=True)
class SubscriptionInput:
    """A create request, as parsed by an edge (not yet validated against the rules)."""

    #: None for a pull subscription (which has none)
    url: str | None
    event_types: Sequence[str]
    mailbox_id: str | None = None
    phone_number_id: str | None = None
    agent_identity_id: str | None = None
    auth_token: str | None = None
    name: str | None = None
    description: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    domains: Sequence[str] = ()
    profile: str | None = None
    enabled: bool = True
    retry_schedule: Sequence[int] | None = None
    max_in_flight: int | None = None
    rate_limit_per_second: float | None = None
    #: who manages it: "api", "mailbox" (a mailbox's webhook_url) or "inbox" (/v1/webhooks)
    source: str = "api"
    #: the id to create it under (a UUID), for an edge that must not create it twice: the
    #: console's add form derives it from the form's one-time token. None: a new one.
    id: str | None = None
    #: "push" (workers POST to url) or "pull" (a consumer takes deliveries over the API)
    mode: str = "push"


MODES = ("push", "pull")


@frozen
class CreatedSubscription:
    subscription: Subscription
    #: the owner's signing key, when this create minted it (shown once)
    signing_key: str | None
    #: the subscription's own secret (per-subscription profiles)
    secret: str | None


#: fields PATCH may change; the owner is immutable
MUTABLE = frozenset(
    {
        "url",
        "event_types",
        "name",
        "description",
        "enabled",
        "profile",
        "headers",
        "domains",
        "retry_schedule",
        "max_in_flight",
        "rate_limit_per_second",
        "auth_token",
        "held",
    }
)
OWNER_FIELDS = frozenset({"mailbox_id", "phone_number_id", "agent_identity_id"})


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

    # -- validation ---------------------------------------------------------------------------
    def _check_common(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Validate whichever mutable fields are present; return normalized values."""
        out: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "url":
                out[key] = validation.url(value, allow_http=self._allow_http)
            elif key == "event_types":
                out[key] = validation.event_types(value, known=CATALOG.keys())
            elif key == "profile":
                out[key] = validation.profile(value)
            elif key == "headers":
                out[key] = validation.headers(value or {})
            elif key == "domains":
                out[key] = validation.domains(value or ())
            elif key == "retry_schedule":
                out[key] = None if value is None else retry.validate_schedule(list(value))
            elif key == "max_in_flight":
                if value is not None and not 1 <= value <= self._max_in_flight:
                    raise ValidationFailed(
                        key,
                        f"must be between 1 and {self._max_in_flight} (the worker's own "
                        "max_in_flight)",
                    )
                out[key] = value
            elif key == "rate_limit_per_second":
                if value is not None and not 0 < value <= MAX_RATE_PER_S:
                    raise ValidationFailed(key, f"must be > 0 and at most {MAX_RATE_PER_S}")
                out[key] = value
            elif key in ("name", "description"):
                if value is not None and len(value) > MAX_TEXT:
                    raise ValidationFailed(key, f"at most {MAX_TEXT} characters")
                out[key] = value
            elif key == "auth_token":
                if value is not None and (
                    not value or len(value) > 4096 or any(c in value for c in "\r\n")
                ):
                    raise ValidationFailed(key, "must be 1-4096 characters on one line")
                out[key] = value
            elif key == "enabled":
                out[key] = bool(value)
            else:  # pragma: no cover - the edges only pass known fields
                raise ValidationFailed(key, "unknown field")
        return out

    async def _resolve_owner(
        self, principal: Principal, data: SubscriptionInput
    ) -> tuple[str | None, str | None, str | None, str | None]:
        """(mailbox_id, phone_number_id, agent_identity_id, owner_identity_id)."""
        given = [
            (k, v)
            for k, v in (
                ("mailbox_id", data.mailbox_id),
                ("phone_number_id", data.phone_number_id),
                ("agent_identity_id", data.agent_identity_id),
            )
            if v is not None
        ]
        if len(given) > 1:
            raise ValidationFailed(
                given[1][0],
                "a subscription has at most one owner: mailbox, phone number or identity",
            )
        org = principal.organization_id
        if not given:
            if not principal.is_admin:
                raise Forbidden("an agent key cannot create organization-wide subscriptions")
            return None, None, None, None
        kind, owner_id = given[0]
        if kind == "mailbox_id":
            mailbox = await self._storage.mailbox_by_id(org, owner_id)
            if mailbox is None:
                raise ValidationFailed(kind, f"no mailbox {owner_id!r}")
            owner_identity = mailbox.agent_identity_id
        elif kind == "phone_number_id":
            phone = await self._storage.phone_number_by_id(org, owner_id)
            if phone is None:
                raise ValidationFailed(kind, f"no phone number {owner_id!r}")
            owner_identity = phone.agent_identity_id
        else:
            ident = await self._storage.identity_by_id(org, owner_id)
            if ident is None:
                raise ValidationFailed(kind, f"no identity {owner_id!r}")
            owner_identity = ident.id
        if not principal.is_admin and owner_identity != principal.identity_id:
            raise Forbidden("an agent key can only create subscriptions for its own identity")
        if principal.channel not in (None, (kind, owner_id)):
            raise Forbidden("this session can only create subscriptions for its own channel")
        return (
            owner_id if kind == "mailbox_id" else None,
            owner_id if kind == "phone_number_id" else None,
            owner_id if kind == "agent_identity_id" else None,
            owner_identity,
        )

    # -- use cases ----------------------------------------------------------------------------
    async def create(self, principal: Principal, data: SubscriptionInput) -> CreatedSubscription:
        pull = _pull_mode(data)
        fields = self._check_common(
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
        mailbox_id, phone_id, ident_id, owner_identity = await self._resolve_owner(principal, data)
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

    def owner_filter(self, principal: Principal, flt: SubscriptionFilter) -> SubscriptionFilter:
        given = [
            k
            for k in ("mailbox_id", "phone_number_id", "agent_identity_id")
            if getattr(flt, k) is not None
        ]
        if len(given) > 1:
            raise ValidationFailed(
                given[1], f"filter by one owner at a time (also given: {given[0]})"
            )
        if flt.event_type is not None and flt.event_type not in CATALOG:
            raise ValidationFailed("event_type", f"{flt.event_type!r} is not in the event catalog")
        if not principal.is_admin:
            flt = replace(flt, owner_identity_id=principal.identity_id)
        if principal.channel is not None:
            kind, channel_id = principal.channel
            if any(k != kind or getattr(flt, k) != channel_id for k in given):
                raise Forbidden("this session sees its own channel's subscriptions only")
            flt = replace(flt, **{kind: channel_id})
        return flt

    async def list(
        self, principal: Principal, flt: SubscriptionFilter, limit: int = 1000, offset: int = 0
    ) -> Page[Subscription]:
        found = await self._storage.list_subscriptions(
            principal.organization_id, self.owner_filter(principal, flt), limit + 1, offset
        )
        return Page.of(found, limit)

    async def get(self, principal: Principal, sub_id: str) -> Subscription:
        sub = await self._storage.get_subscription(principal.organization_id, sub_id)
        if sub is None or not self.visible(principal, sub):
            raise NotFound("subscription", sub_id)
        return sub

    @staticmethod
    def visible(principal: Principal, sub: Subscription) -> bool:
        if principal.channel is not None:
            kind, channel_id = principal.channel
            if getattr(sub, kind) != channel_id:
                return False
        return principal.is_admin or (
            sub.owner_identity_id is not None and sub.owner_identity_id == principal.identity_id
        )

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
        held = _held_action(requested)
        checked = self._check_common(requested)
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


def _pull_mode(data: SubscriptionInput) -> bool:
    """Whether ``data`` asks for a pull subscription; refuse a URL that does not fit its mode."""
    if data.mode not in MODES:
        raise ValidationFailed("mode", "must be 'push' or 'pull'")
    if data.mode == "pull":
        if data.url is not None:
            raise ValidationFailed("url", "a pull subscription has no URL: its consumer pulls")
        return True
    if data.url is None:
        raise ValidationFailed("url", "required for a push subscription")
    return False


def _held_action(changes: dict[str, Any]) -> HeldAction | None:
    """Take ``held`` out of ``changes``: what to do with held deliveries, only when enabling."""
    if "held" not in changes:
        return None
    held = changes.pop("held")
    if held is None:
        return None
    if held not in ("send", "drop"):
        raise ValidationFailed("held", "must be 'send' or 'drop'")
    if changes.get("enabled") is not True:
        raise ValidationFailed("held", "only with enabled: true")
    return cast(HeldAction, held)
