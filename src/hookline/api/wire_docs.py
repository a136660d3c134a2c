"""The OpenAPI document's ``webhooks``: what Hookline POSTs to subscribers, per wire profile.

Nothing here is called: each function is a description of one profile's request, its headers
and body as ``core.profiles`` renders and signs them, for the document and /docs.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Header
from pydantic import BaseModel, ConfigDict, Field

_EVENT_ID = "evt_1234567890"
_TYPE = "message.delivered"
_AT = "2025-01-15T10:25:03Z"
_DATA = {"message_id": "msg_1234567890", "to": "+15551234567"}


class _Body(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    data: dict[str, Any] = Field(examples=[_DATA])
    """The event's `data`, as published."""


class StandardBody(_Body):
    """Profile `standard` (Standard Webhooks)."""

    id: str = Field(examples=[_EVENT_ID])
    """The event's id; the same on every attempt (deduplicate on it)."""
    type: str = Field(examples=[_TYPE])
    """The event type."""
    timestamp: str = Field(examples=[_AT])
    """When the event occurred (ISO 8601)."""


class InkboxBody(_Body):
    """Profile `inkbox`."""

    id: str = Field(examples=[_EVENT_ID])
    """The event's id; the same on every attempt."""
    event_type: str = Field(examples=[_TYPE])
    """The event type."""
    timestamp: str = Field(examples=[_AT])
    """When the event occurred (ISO 8601)."""


class InboxBody(_Body):
    """Profile `inbox`: Inbox's envelope."""

    id: str = Field(examples=[_EVENT_ID])
    """The event's id; the same on every attempt."""
    type: str = Field(examples=[_TYPE])
    """The event type."""
    created_at: str = Field(examples=[_AT])
    """When the event occurred (ISO 8601)."""


class InboxroadBody(BaseModel):
    """Profile `inboxroad`: a flat object, the event's `data` fields beside these."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="allow")

    kind: str = Field(examples=["delivered"])
    """The short name of the type: `message.delivered` → `delivered`, `message.opened` →
    `open`, `message.clicked` → `click`, `message.bounced` → `bounce`,
    `subscription.changed` → `subscription_changed`; other types their part after the dot."""
    timestamp: str = Field(examples=[_AT])
    """When the event occurred (ISO 8601)."""
    message_id: str = Field(examples=["<335026fa-0b4d-4fb3-a92c-8193ac2636b8@example.com>"])
    """The data's `message_id`, or the event's id when the data has none."""


_ACK: dict[int | str, dict[str, Any]] = {
    200: {"description": "Any 2xx acknowledges the delivery."},
    "default": {
        "description": "Anything else (or no answer within the timeout) is a failure, retried "
        "on the subscription's schedule; `410 Gone` disables the subscription; `Retry-After` "
        "on 429 and 503 pushes the next attempt back. Redirects are not followed."
    },
}

Agent = Annotated[
    str,
    Header(alias="User-Agent", description="`Hookline/<version>`.", examples=["Hookline/0.1.0"]),
]
Bearer = Annotated[
    str | None,
    Header(
        alias="Authorization",
        description="`Bearer <auth_token>`, when the subscription has an `auth_token`.",
    ),
]
_COMMON = (
    " Every delivery also carries `Content-Type: application/json`, the subscription's "
    "custom headers, and the body exactly as signed: verify the raw bytes before parsing."
)


def install(app: FastAPI) -> None:
    """Describe each wire profile under the document's ``webhooks``."""

    @app.webhooks.post(
        "standard",
        operation_id="webhook_standard",
        responses=_ACK,
        description="Standard Webhooks: the profile recommended to new receivers (any Standard "
        "Webhooks library verifies it)." + _COMMON,
    )
    def standard(
        body: StandardBody,
        user_agent: Agent,
        webhook_id: Annotated[
            str,
            Header(
                alias="webhook-id",
                description="The event's id (the same on every retry).",
                examples=[_EVENT_ID],
            ),
        ],
        webhook_timestamp: Annotated[
            str,
            Header(
                alias="webhook-timestamp",
                description="Unix seconds of this attempt.",
                examples=["1767225600"],
            ),
        ],
        webhook_signature: Annotated[
            str,
            Header(
                alias="webhook-signature",
                description='`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.'
                "{body}\">`; during a secret rotation's grace period one per valid secret, "
                "space-separated. The HMAC key is the base64-decoded secret after `whsec_`.",
                examples=["v1,8nOQWYAZYXR+vpK+5aNxAg5Wgxshxr0/O1VY79ldx74="],
            ),
        ],
        authorization: Bearer = None,
    ) -> None:
        del body, user_agent, webhook_id, webhook_timestamp, webhook_signature, authorization

    @app.webhooks.post(
        "inkbox",
        operation_id="webhook_inkbox",
        responses=_ACK,
        description="Inkbox's mailbox webhooks: signed with the owning identity's signing key."
        + _COMMON,
    )
    def inkbox(
        body: InkboxBody,
        user_agent: Agent,
        request_id: Annotated[
            str,
            Header(
                alias="X-Inkbox-Request-ID",
                description="New on every attempt.",
                examples=["req_0000_a1b2c3"],
            ),
        ],
        timestamp: Annotated[
            str,
            Header(
                alias="X-Inkbox-Timestamp",
                description="Unix seconds of this attempt; refuse it when more than 300 s off.",
                examples=["1767225600"],
            ),
        ],
        signature: Annotated[
            str,
            Header(
                alias="X-Inkbox-Signature",
                description='`sha256=<hex HMAC-SHA256 of "{request_id}.{timestamp}.{body}">`. '
                "The key is the owner's signing key (the organization's for organization-wide "
                "subscriptions): the UTF-8 bytes of the key without its `whsec_` prefix.",
                examples=[
                    "sha256=7d9745110c1b112ee223f83e0cfe0380d6004156beb30015e49c078beb594fe9"
                ],
            ),
        ],
        authorization: Bearer = None,
    ) -> None:
        del body, user_agent, request_id, timestamp, signature, authorization

    @app.webhooks.post(
        "inbox",
        operation_id="webhook_inbox",
        responses=_ACK,
        description="Inbox's webhooks (what `/v1/webhooks` makes)." + _COMMON,
    )
    def inbox(
        body: InboxBody,
        user_agent: Agent,
        signature: Annotated[
            str,
            Header(
                alias="X-Inbox-Signature",
                description="`sha256=<hex HMAC-SHA256 of the body>`, keyed with the UTF-8 "
                "bytes of the subscription's secret as it is.",
                examples=[
                    "sha256=806563c85766dea280405ea154d5996aa8151d8e21099883ea9aa6d7209f48e7"
                ],
            ),
        ],
        authorization: Bearer = None,
    ) -> None:
        del body, user_agent, signature, authorization

    @app.webhooks.post(
        "inboxroad",
        operation_id="webhook_inboxroad",
        responses=_ACK,
        description="Inboxroad's flat payloads." + _COMMON,
    )
    def inboxroad(
        body: InboxroadBody,
        user_agent: Agent,
        signature: Annotated[
            str,
            Header(
                alias="X-Signature",
                description="`base64(HMAC-SHA256 of the body)`, keyed with the UTF-8 bytes of "
                "the subscription's secret as it is.",
                examples=["lfZw/SJ2C6clieGx1DikFrBNyx9mby2urWl34N0dCdQ="],
            ),
        ],
        authorization: Bearer = None,
    ) -> None:
        del body, user_agent, signature, authorization
