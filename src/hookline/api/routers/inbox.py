"""The Inbox-style API at ``/v1/webhooks``, over the same services (``inbox`` profile)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Response

from hookline.api.deps import PrincipalDep, ServicesDep
from hookline.api.schemas.common import In, Out
from hookline.api.schemas.events import AttemptOut
from hookline.core.errors import NotFound, ValidationFailed
from hookline.core.models import Subscription
from hookline.core.timefmt import iso_from_ms
from hookline.services.subscriptions import SubscriptionInput
from hookline.storage.base import AttemptFilter, SubscriptionFilter

router = APIRouter(prefix="/v1/webhooks", tags=["inbox-compatible"])
INBOX_SOURCE = "inbox"
LOG_PAGE = 100


class WebhookIn(In):
    url: str
    events: list[str]
    description: str | None = None


class WebhookTestIn(In):
    webhook_id: str
    event_type: str


class WebhookOut(Out):
    id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    created_at: str
    updated_at: str

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
    secret: str


class WebhookList(Out):
    webhooks: list[WebhookOut]
    #: more webhooks than the first 1000 exist
    has_more: bool


class WebhookLogs(Out):
    logs: list[AttemptOut]
    #: more attempts than these (the latest) were logged
    has_more: bool


@contextmanager
def _inbox_field_names() -> Iterator[None]:
    """Name fields as this API's requests do: the services' ``event_types`` is ``events``."""
    try:
        yield
    except ValidationFailed as exc:
        if exc.field.startswith("event_types"):
            field = "events" + exc.field.removeprefix("event_types")
            raise ValidationFailed(field, exc.reason) from exc
        raise


async def _own(services: ServicesDep, principal: PrincipalDep, webhook_id: str) -> Subscription:
    """The webhook, if it was made through this API: it lists only those, and acts on no other."""
    sub = await services.subscriptions.get(principal, webhook_id)
    if sub.source != INBOX_SOURCE:
        raise NotFound("webhook", webhook_id)
    return sub


@router.post("", status_code=201, operation_id="inbox_create_webhook")
async def create_webhook(
    body: WebhookIn, principal: PrincipalDep, services: ServicesDep
) -> WebhookCreated:
    with _inbox_field_names():
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


@router.get("", operation_id="inbox_list_webhooks")
async def list_webhooks(principal: PrincipalDep, services: ServicesDep) -> WebhookList:
    subs = await services.subscriptions.list(principal, SubscriptionFilter(source=INBOX_SOURCE))
    return WebhookList(webhooks=[WebhookOut.of(s) for s in subs.items], has_more=subs.has_more)


@router.put("/{webhook_id}", operation_id="inbox_update_webhook")
async def update_webhook(
    webhook_id: str, body: WebhookIn, principal: PrincipalDep, services: ServicesDep
) -> WebhookOut:
    await _own(services, principal, webhook_id)
    with _inbox_field_names():
        sub = await services.subscriptions.update(
            principal,
            webhook_id,
            {"url": body.url, "event_types": body.events, "description": body.description},
        )
    return WebhookOut.of(sub)


@router.delete("/{webhook_id}", status_code=204, operation_id="inbox_delete_webhook")
async def delete_webhook(
    webhook_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    await _own(services, principal, webhook_id)
    await services.subscriptions.delete(principal, webhook_id)
    return Response(status_code=204)


@router.post("/test", operation_id="inbox_test_webhook")
async def test_webhook(
    body: WebhookTestIn, principal: PrincipalDep, services: ServicesDep
) -> AttemptOut:
    await _own(services, principal, body.webhook_id)
    return AttemptOut.of(await services.sends.test(principal, body.webhook_id, body.event_type))


@router.get("/{webhook_id}/logs", operation_id="inbox_webhook_logs")
async def webhook_logs(
    webhook_id: str, principal: PrincipalDep, services: ServicesDep
) -> WebhookLogs:
    await _own(services, principal, webhook_id)
    attempts = await services.deliveries.attempts(
        principal, AttemptFilter(subscription_id=webhook_id, limit=LOG_PAGE)
    )
    return WebhookLogs(logs=[AttemptOut.of(a) for a in attempts.items], has_more=attempts.has_more)
