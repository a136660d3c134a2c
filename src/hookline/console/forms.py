"""Reading the console's forms into the services' inputs, and their errors back to fields."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Sequence
from typing import Any

from starlette.datastructures import FormData

from hookline.core.catalog import CATALOG, NOT_SUBSCRIBABLE
from hookline.core.errors import ValidationFailed
from hookline.core.models import Subscription
from hookline.services.principal import Principal
from hookline.services.subscription_rules import SubscriptionInput

#: the catalog's groups as the add form shows them, in this order
CHANNELS = (("mail", "Mail"), ("text", "Text"), ("phone", "Phone"), ("operational", "Operational"))


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def event_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """``(group label, [(type, description), ...])`` of every type a webhook may want."""
    return [
        (
            label,
            [
                (t.name, t.description)
                for t in CATALOG.values()
                if t.channel == channel and t.name not in NOT_SUBSCRIBABLE
            ],
        )
        for channel, label in CHANNELS
    ]


def form_field(error_field: str) -> str:
    """The form's field of a service's error: ``headers.X-Foo`` and ``event_types[2]`` are
    the headers and event types fields."""
    return re.split(r"[.\[]", error_field, maxsplit=1)[0]


def _headers(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in value.splitlines():
        if not line.strip():
            continue
        name, sep, header_value = line.partition(":")
        if not sep or not name.strip():
            raise ValidationFailed(
                "headers", f"write one header per line as Name: value ({line!r})"
            )
        out[name.strip()] = header_value.strip()
    return out


def webhook_changes(form: FormData) -> dict[str, Any]:
    """The edit form as an update: every field it shows (the owner cannot change)."""
    data = webhook_input(form, None)
    changes: dict[str, Any] = {
        "url": data.url,
        "event_types": data.event_types,
        "name": data.name,
        "domains": data.domains,
        "headers": data.headers,
    }
    if data.profile is not None:
        changes["profile"] = data.profile
    return changes


def once_id(csrf_secret: str, form_token: str) -> str:
    """The id the add form's one-time token creates its webhook under: the same token sent
    twice names the same webhook, and nobody but the session can name it."""
    digest = hmac.new(
        csrf_secret.encode(), b"webhook-form:" + form_token.encode(), hashlib.sha256
    ).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _domains(form: FormData) -> list[str]:
    """The typed domains, then those ticked among the offered ones, each once."""
    typed = [d for d in re.split(r"[\s,]+", text(form, "domains")) if d]
    ticked = [v for v in form.getlist("domain_choices") if isinstance(v, str)]
    return list(dict.fromkeys(typed + ticked))


def webhook_values(sub: Subscription, offered: Sequence[str] = ()) -> dict[str, Any]:
    """A webhook's settings as the form's values (its ``offered`` domains as ticks)."""
    return {
        "name": sub.name or "",
        "url": sub.url,
        "event_types": list(sub.event_types),
        "domains": " ".join(d for d in sub.domains if d not in offered),
        "domain_choices": [d for d in sub.domains if d in offered],
        "profile": sub.profile,
        "headers": "\n".join(f"{k}: {v}" for k, v in sub.headers.items()),
    }


def submitted_values(form: FormData) -> dict[str, Any]:
    """What was typed, to show again beside the errors."""
    values: dict[str, Any] = {
        k: text(form, k) for k in ("name", "url", "domains", "profile", "headers")
    }
    values["event_types"] = [v for v in form.getlist("event_types") if isinstance(v, str)]
    values["domain_choices"] = [v for v in form.getlist("domain_choices") if isinstance(v, str)]
    return values


def webhook_input(
    form: FormData, principal: Principal | None, sub_id: str | None = None
) -> SubscriptionInput:
    """The add form as a create request (under ``sub_id``, if given). An agent's webhooks
    belong to its identity, and a portal session's bound to one channel to that channel."""
    identity = None if principal is None or principal.is_admin else principal.identity_id
    channel = principal.channel if principal is not None else None
    domains = _domains(form)
    return SubscriptionInput(
        id=sub_id,
        url=text(form, "url"),
        event_types=[v for v in form.getlist("event_types") if isinstance(v, str)],
        name=text(form, "name") or None,
        domains=domains,
        profile=text(form, "profile") or None,
        headers=_headers(text(form, "headers")),
        agent_identity_id=identity if channel is None else None,
        mailbox_id=principal.mailbox_id if principal is not None else None,
        phone_number_id=principal.phone_number_id if principal is not None else None,
    )
