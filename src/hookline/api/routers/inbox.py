"""The Inbox-style API at ``/v1/webhooks``, over the same services (``inbox`` profile).

Its vocabulary is Inbox's: a *webhook* has ``events``. The services speak of subscriptions and
``event_types``; ``_inbox_words`` translates their errors, so nothing this API answers names
the other API's resources.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import Field, TypeAdapter, WithJsonSchema

from hookline.api.deps import PrincipalDep, ServicesDep
from hookline.api.openapi import errors
from hookline.api.schemas.common import EventType, EventTypeList, In, Out
from hookline.api.schemas.events import AttemptOut
from hookline.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from hookline.core.models import Subscription
from hookline.core.timefmt import iso_from_ms
from hookline.services.subscription_rules import SubscriptionInput
from hookline.storage.records import AttemptFilter, SubscriptionFilter

router = APIRouter(prefix="/v1/webhooks", tags=["inbox-compatible"])
INBOX_SOURCE = "inbox"
LOG_PAGE = 100
_SUBSCRIPTION_WORD = re.compile(r"\bsubscription(s?)\b")
_EVENT_TYPE_LIST = TypeAdapter(EventTypeList).json_schema()


class WebhookIn(In):
    """A new webhook."""

    url: str = Field(examples=["https://yourapp.com/webhooks/inbox"])
    """Where events are POSTed (an https:// URL)."""
    events: EventTypeList
    """The event types it wants, e.g. `message.delivered`."""
    description: str | None = None
    """What it is for."""


class WebhookUpdate(In):
    """Changes to a webhook: only the fields sent change, the others keep their values."""

    # left out keeps the value; null is refused (a webhook always has both), so the document
    # says string and array
    url: Annotated[str | None, WithJsonSchema({"type": "string"})] = None
    """Where events are POSTed."""
    events: Annotated[EventTypeList | None, WithJsonSchema(_EVENT_TYPE_LIST)] = None
    """The event types it wants."""
    description: str | None = None
    """What it is for; null clears it."""


class WebhookTestIn(In):
    """A test send."""

    webhook_id: str
    """The webhook to send to."""
    event_type: EventType
    """The event type whose catalog example is sent."""


class WebhookOut(Out):
    """A webhook."""

    id: str
    """Its id."""
    url: str
    """Where events are POSTed."""
    events: list[str]
    """The event types it wants."""
    description: str | None
    """What it is for."""
    enabled: bool
    """Whether it delivers (it may have been disabled after failing for too long)."""
    created_at: str
    """When it was created (ISO 8601)."""
    updated_at: str
    """When it last changed (ISO 8601)."""

    @classmethod
    def of(cls, sub: Subscription) -> WebhookOut:
        return cls(
            id=sub.id,
            url=sub.url,
            events=list(sub.event_types),
            description=sub.description,
            enabled=sub.enabled,
            created_at=iso_from_ms(sub.created_at_ms),
            updated_at=iso_from_ms(sub.updated_at_ms),
        )


class WebhookCreated(WebhookOut):
    """A new webhook, with its secret."""

    secret: str
    """The secret its `X-Inbox-Signature` HMACs are made with (UTF-8 bytes)."""


class WebhookList(Out):
    """Webhooks."""

    webhooks: list[WebhookOut]
    """Every webhook made through this API, oldest first."""
    has_more: bool
    """More webhooks than the first 1000 exist."""


class WebhookLogs(Out):
    """A webhook's delivery log."""

    logs: list[AttemptOut]
    """Its latest attempts (at most 100), newest first."""
    has_more: bool
    """More attempts than these (the latest) were logged."""


def _webhook_words(text: str) -> str:
    return _SUBSCRIPTION_WORD.sub(r"webhook\1", text)


@contextmanager
def _inbox_words() -> Iterator[None]:
    """Errors in this API's words: webhooks, not subscriptions; ``events``, not
    ``event_types``."""
    try:
        yield
    except ValidationFailed as exc:
        field = exc.field
        if field.startswith("event_types"):
            field = "events" + field.removeprefix("event_types")
        raise ValidationFailed(field, _webhook_words(exc.reason)) from exc
    except NotFound as exc:
        kind = "webhook" if exc.kind == "subscription" else _webhook_words(exc.kind)
        raise NotFound(kind, exc.key) from exc
    except (Forbidden, Conflict) as exc:
        raise type(exc)(_webhook_words(exc.message)) from exc


async def _own(services: ServicesDep, principal: PrincipalDep, webhook_id: str) -> Subscription:
    """The webhook, if it was made through this API: it lists only those, and acts on no other."""
    with _inbox_words():
        sub = await services.subscriptions.get(principal, webhook_id)
    if sub.source != INBOX_SOURCE:
        raise NotFound("webhook", webhook_id)
    return sub


@router.post(
    "",
    status_code=201,
    operation_id="inbox_create_webhook",
    responses=errors(401, 403, 413, 422),
)
async def create_webhook(
    body: WebhookIn, principal: PrincipalDep, services: ServicesDep
) -> WebhookCreated:
    """Register a webhook (admin key: its webhooks are organization-wide). It is enabled at
    once, signs with the `inbox` profile, and its `secret` is in this answer."""
    with _inbox_words():
        created = await services.subscriptions.create(
            principal,
            SubscriptionInput(
                url=body.url,
                event_types=body.events,
                description=body.description,
                profile="inbox",
                source=INBOX_SOURCE,
            ),
        )
    assert created.secret is not None
    return WebhookCreated(**WebhookOut.of(created.subscription).model_dump(), secret=created.secret)


@router.get("", operation_id="inbox_list_webhooks", responses=errors(401))
async def list_webhooks(principal: PrincipalDep, services: ServicesDep) -> WebhookList:
    """Every webhook made through this API (not the subscriptions of `/api/v1`)."""
    subs = await services.subscriptions.list(principal, SubscriptionFilter(source=INBOX_SOURCE))
    return WebhookList(webhooks=[WebhookOut.of(s) for s in subs.items], has_more=subs.has_more)


@router.get("/{webhook_id}", operation_id="inbox_get_webhook", responses=errors(401, 404))
async def get_webhook(
    webhook_id: str, principal: PrincipalDep, services: ServicesDep
) -> WebhookOut:
    """One webhook (without its secret)."""
    return WebhookOut.of(await _own(services, principal, webhook_id))


@router.put(
    "/{webhook_id}", operation_id="inbox_update_webhook", responses=errors(401, 404, 413, 422)
)
async def update_webhook(
    webhook_id: str, body: WebhookUpdate, principal: PrincipalDep, services: ServicesDep
) -> WebhookOut:
    """Change the fields sent (`url`, `events`, `description`); the others keep their values.
    The secret does not change."""
    await _own(services, principal, webhook_id)
    sent = body.model_dump(exclude_unset=True)
    for required in ("url", "events"):
        if required in sent and sent[required] is None:
            raise ValidationFailed(required, "must not be null")
    changes = {"event_types" if k == "events" else k: v for k, v in sent.items()}
    with _inbox_words():
        sub = await services.subscriptions.update(principal, webhook_id, changes)
    return WebhookOut.of(sub)


@router.delete(
    "/{webhook_id}",
    status_code=204,
    operation_id="inbox_delete_webhook",
    responses=errors(401, 404),
)
async def delete_webhook(
    webhook_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    """Delete the webhook: nothing more is sent to it (pending deliveries are cancelled)."""
    await _own(services, principal, webhook_id)
    with _inbox_words():
        await services.subscriptions.delete(principal, webhook_id)
    return Response(status_code=204)


@router.post("/test", operation_id="inbox_test_webhook", responses=errors(401, 404, 413, 422))
async def test_webhook(
    body: WebhookTestIn, principal: PrincipalDep, services: ServicesDep
) -> AttemptOut:
    """Send the catalog example of `event_type` to the webhook now, signed, and answer the
    logged attempt."""
    await _own(services, principal, body.webhook_id)
    with _inbox_words():
        attempt = await services.sends.test(principal, body.webhook_id, body.event_type)
    return AttemptOut.of(attempt)


@router.get("/{webhook_id}/logs", operation_id="inbox_webhook_logs", responses=errors(401, 404))
async def webhook_logs(
    webhook_id: str, principal: PrincipalDep, services: ServicesDep
) -> WebhookLogs:
    """The webhook's latest delivery attempts, newest first."""
    await _own(services, principal, webhook_id)
    attempts = await services.deliveries.attempts(
        principal, AttemptFilter(subscription_id=webhook_id, limit=LOG_PAGE)
    )
    return WebhookLogs(logs=[AttemptOut.of(a) for a in attempts.items], has_more=attempts.has_more)
