"""Hookline's SDK: verify received webhooks, and call a Hookline server's API.

Receiving::

    payload = hookline_sdk.verify("standard", secret, raw_body, request.headers)

Calling::

    with hookline_sdk.Client("http://127.0.0.1:8000", api_key=key) as hl:
        hl.publish_event("message.delivered", {"message_id": "m1"}, mailbox="a@example.com")

The SDK never imports the server: it depends on httpx only.
"""

from __future__ import annotations

from hookline_sdk._version import __version__
from hookline_sdk.async_client import AsyncClient
from hookline_sdk.client import Client
from hookline_sdk.errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FieldError,
    HooklineSDKError,
    InvalidHeader,
    InvalidPayload,
    InvalidSignature,
    MissingHeader,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TimestampOutOfTolerance,
    UnexpectedResponseError,
    UnprocessableEntityError,
    WebhookVerificationError,
)
from hookline_sdk.inputs import NewEvent
from hookline_sdk.models import (
    AckResult,
    ApiKey,
    Attempt,
    CreatedApiKey,
    CreatedSubscription,
    Delivery,
    Event,
    EventDeliveries,
    EventType,
    Identity,
    Mailbox,
    Page,
    PhoneNumber,
    PortalLink,
    Published,
    Pulled,
    SigningKey,
    SigningKeyStatus,
    Subscription,
    Task,
)
from hookline_sdk.operations import MAX_BATCH_EVENTS, OPERATIONS
from hookline_sdk.verification import PROFILES, verify, verify_signature

__all__ = [
    "MAX_BATCH_EVENTS",
    "OPERATIONS",
    "PROFILES",
    "APIConnectionError",
    "APIStatusError",
    "AckResult",
    "ApiKey",
    "AsyncClient",
    "Attempt",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "CreatedApiKey",
    "CreatedSubscription",
    "Delivery",
    "Event",
    "EventDeliveries",
    "EventType",
    "FieldError",
    "HooklineSDKError",
    "Identity",
    "InvalidHeader",
    "InvalidPayload",
    "InvalidSignature",
    "Mailbox",
    "MissingHeader",
    "NewEvent",
    "NotFoundError",
    "Page",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PhoneNumber",
    "PortalLink",
    "Published",
    "Pulled",
    "RateLimitError",
    "ServerError",
    "SigningKey",
    "SigningKeyStatus",
    "Subscription",
    "Task",
    "TimestampOutOfTolerance",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
    "WebhookVerificationError",
    "__version__",
    "verify",
    "verify_signature",
]
