"""The rules of subscriptions, apart from storing them: which values a field may take, who
may own one, and which subscriptions a caller may see."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from hookline.core import retry, validation
from hookline.core.catalog import CATALOG
from hookline.core.errors import Forbidden, ValidationFailed
from hookline.core.models import Subscription
from hookline.services.principal import Principal
from hookline.storage.base import Storage
from hookline.storage.records import HeldAction, SubscriptionFilter

MAX_IN_FLIGHT_LIMIT = 1000
MAX_RATE_PER_S = 10_000.0
MAX_TEXT = 2000


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


def check_fields(
    changes: dict[str, Any], *, allow_http: bool, max_in_flight: int
) -> dict[str, Any]:
    """Validate whichever mutable fields are present; return normalized values. ``max_in_flight``:
    the highest cap a subscription may ask for (the worker's own)."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "url":
            out[key] = validation.url(value, allow_http=allow_http)
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
            if value is not None and not 1 <= value <= max_in_flight:
                raise ValidationFailed(
                    key,
                    f"must be between 1 and {max_in_flight} (the worker's own max_in_flight)",
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


async def resolve_owner(
    storage: Storage, principal: Principal, data: SubscriptionInput
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
        mailbox = await storage.mailbox_by_id(org, owner_id)
        if mailbox is None:
            raise ValidationFailed(kind, f"no mailbox {owner_id!r}")
        owner_identity = mailbox.agent_identity_id
    elif kind == "phone_number_id":
        phone = await storage.phone_number_by_id(org, owner_id)
        if phone is None:
            raise ValidationFailed(kind, f"no phone number {owner_id!r}")
        owner_identity = phone.agent_identity_id
    else:
        ident = await storage.identity_by_id(org, owner_id)
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


def owner_filter(principal: Principal, flt: SubscriptionFilter) -> SubscriptionFilter:
    """``flt`` narrowed to what ``principal`` may list; refuse filters it may not use."""
    given = [
        k
        for k in ("mailbox_id", "phone_number_id", "agent_identity_id")
        if getattr(flt, k) is not None
    ]
    if len(given) > 1:
        raise ValidationFailed(given[1], f"filter by one owner at a time (also given: {given[0]})")
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


def visible(principal: Principal, sub: Subscription) -> bool:
    """Whether ``principal`` may see ``sub`` at all (else it is answered as not found)."""
    if principal.channel is not None:
        kind, channel_id = principal.channel
        if getattr(sub, kind) != channel_id:
            return False
    return principal.is_admin or (
        sub.owner_identity_id is not None and sub.owner_identity_id == principal.identity_id
    )


def pull_mode(data: SubscriptionInput) -> bool:
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


def held_action(changes: dict[str, Any]) -> HeldAction | None:
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
