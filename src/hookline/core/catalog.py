"""The built-in event catalog: types, descriptions, example payloads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hookline.core.frozen import frozen

INCOMING_CALL = "phone.incoming_call"
SUBSCRIPTION_DISABLED = "subscription.disabled"


@frozen
class EventType:
    name: str
    channel: str  # mail, text, phone, operational
    description: str
    example: Mapping[str, Any]
    #: the short ``kind`` of the Inboxroad flat payload
    inboxroad_kind: str


_MSG = "<335026fa-0b4d-4fb3-a92c-8193ac2636b8@example.com>"


def _t(
    name: str, channel: str, description: str, example: dict[str, Any], kind: str = ""
) -> EventType:
    return EventType(
        name=name,
        channel=channel,
        description=description,
        example=example,
        inboxroad_kind=kind or name.split(".", 1)[-1],
    )


CATALOG: Mapping[str, EventType] = {
    t.name: t
    for t in (
        _t(
            "message.received",
            "mail",
            "An inbound email was ingested into the mailbox",
            {
                "message_id": _MSG,
                "mailbox": "support@example.com",
                "sender": "alice@example.org",
                "recipient": "support@example.com",
                "subject": "Order #1234",
            },
        ),
        _t(
            "message.sent",
            "mail",
            "An outbound email was accepted for sending",
            {
                "message_id": _MSG,
                "sender": "support@example.com",
                "recipient": "alice@example.org",
                "subject": "Re: Order #1234",
            },
            "sent",
        ),
        _t(
            "message.forwarded",
            "mail",
            "An email was forwarded to another address",
            {"message_id": _MSG, "sender": "support@example.com", "recipient": "bob@example.org"},
            "forwarded",
        ),
        _t(
            "message.delivered",
            "mail",
            "The recipient's server confirmed delivery",
            # Inboxroad's fields and Inbox's (to, delivered_at, device_id): both products
            # document this type, and test sends of either profile show what its users expect
            {
                "message_id": _MSG,
                "sender": "support@example.com",
                "recipient": "alice@example.org",
                "to": "+15551234567",
                "delivered_at": "2025-01-15T10:25:03Z",
                "device_id": "dev_abcdef123456",
            },
            "delivered",
        ),
        _t(
            "message.bounced",
            "mail",
            "An outbound email bounced or received a complaint",
            {
                "message_id": _MSG,
                "sender": "support@example.com",
                "recipient": "alice@example.org",
                "sync_type": "async",
                "dsn_status": "5.1.1 (user unknown)",
                "bounce_category": "bad-mailbox",
                "bounce_type": "hard",
            },
            "bounce",
        ),
        _t(
            "message.failed",
            "mail",
            "An outbound message failed after exhausting all retries",
            {
                "message_id": _MSG,
                "recipient": "alice@example.org",
                "to": "+15551234567",
                "error_code": "recipient_unreachable",
                "error_message": "Recipient has not installed the Inbox app",
                "failed_at": "2025-01-15T10:30:00Z",
            },
            "failed",
        ),
        _t(
            "message.read",
            "mail",
            "The recipient read the message",
            {
                "message_id": _MSG,
                "recipient": "alice@example.org",
                "to": "+15551234567",
                "read_at": "2025-01-15T10:25:15Z",
                "device_id": "dev_abcdef123456",
            },
            "read",
        ),
        _t(
            "message.action",
            "mail",
            "The recipient used an action button in the message",
            {
                "message_id": _MSG,
                "recipient": "alice@example.org",
                "to": "+15551234567",
                "action": "confirm",
                "action_data": {"button_id": "btn_confirm", "custom_data": {"order_id": "A-123"}},
                "clicked_at": "2025-01-15T10:26:00Z",
            },
            "action",
        ),
        _t(
            "message.opened",
            "mail",
            "The recipient opened the email",
            {"message_id": _MSG, "sender": "support@example.com", "recipient": "alice@example.org"},
            "open",
        ),
        _t(
            "message.clicked",
            "mail",
            "The recipient clicked a link in the email",
            {
                "message_id": _MSG,
                "sender": "support@example.com",
                "recipient": "alice@example.org",
                "url": "https://example.com/offer",
            },
            "click",
        ),
        _t(
            "subscription.changed",
            "mail",
            "A recipient unsubscribed or resubscribed",
            {
                "message_id": _MSG,
                "sender": "support@example.com",
                "recipient": "alice@example.org",
                "change": "unsubscribe",
            },
            "subscription_changed",
        ),
        _t(
            "text.received",
            "text",
            "An inbound text message arrived on a number",
            {
                "message_id": "txt_1234567890",
                "from": "+15551234567",
                "to": "+15557654321",
                "body": "Yes, confirmed",
            },
        ),
        _t(
            "text.sent",
            "text",
            "An outbound text message was sent",
            {
                "message_id": "txt_1234567891",
                "from": "+15557654321",
                "to": "+15551234567",
                "body": "Your order shipped",
            },
        ),
        _t(
            "text.delivered",
            "text",
            "The carrier confirmed delivery of a text message",
            {
                "message_id": "txt_1234567891",
                "to": "+15551234567",
                "delivered_at": "2025-01-15T10:25:03Z",
                "device_id": "dev_abcdef123456",
            },
        ),
        _t(
            "text.delivery_failed",
            "text",
            "A text message could not be delivered",
            {
                "message_id": "txt_1234567891",
                "to": "+15551234567",
                "error_code": "30003",
                "error_message": "Unreachable destination handset",
                "failed_at": "2025-01-15T10:30:00Z",
            },
        ),
        _t(
            "call.ended",
            "phone",
            "A phone call ended",
            {
                "call_id": "call_1234567890",
                "from": "+15551234567",
                "to": "+15557654321",
                "duration_s": 42,
                "ended_reason": "hangup",
            },
        ),
        _t(
            INCOMING_CALL,
            "phone",
            "A call is coming in; answered synchronously by the number's incoming-call webhook",
            {"call_id": "call_1234567891", "from": "+15551234567", "to": "+15557654321"},
        ),
        _t(
            SUBSCRIPTION_DISABLED,
            "operational",
            "A subscription was disabled after failing continuously or answering 410 Gone",
            {
                "subscription_id": "00000000-0000-0000-0000-000000000000",
                "url": "https://example.com/hooks",
                "reason": "failing since 2025-01-10T00:00:00Z",
            },
        ),
    )
}

#: types a subscription may never hold: they are answered synchronously
NOT_SUBSCRIBABLE = frozenset({INCOMING_CALL})
