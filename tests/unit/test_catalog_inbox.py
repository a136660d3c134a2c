"""The catalog's examples carry the fields Inbox's docs show for each type they document.

Test sends (``POST /v1/webhooks/test``) deliver these examples; an Inbox user's handler reads
``event.data.to``, ``delivered_at`` and so on, as the docs' payloads show them.
"""

from __future__ import annotations

from typing import Any

import pytest

from hookline.core.catalog import CATALOG

#: ``data`` of each payload example in Inbox's webhooks docs, verbatim
INBOX_DOCS: dict[str, dict[str, Any]] = {
    "message.delivered": {
        "message_id": "msg_1234567890",
        "to": "+15551234567",
        "delivered_at": "2025-01-15T10:25:03Z",
        "device_id": "dev_abcdef123456",
    },
    "message.read": {
        "message_id": "msg_1234567890",
        "to": "+15551234567",
        "read_at": "2025-01-15T10:25:15Z",
        "device_id": "dev_abcdef123456",
    },
    "message.failed": {
        "message_id": "msg_1234567890",
        "to": "+15551234567",
        "error_code": "recipient_unreachable",
        "error_message": "Recipient has not installed the Inbox app",
        "failed_at": "2025-01-15T10:30:00Z",
    },
    "message.action": {
        "message_id": "msg_1234567890",
        "to": "+15551234567",
        "action": "confirm",
        "action_data": {"button_id": "btn_confirm", "custom_data": {"order_id": "A-123"}},
        "clicked_at": "2025-01-15T10:26:00Z",
    },
}


def _shape(value: Any) -> Any:
    """The keys of ``value`` all the way down, and the JSON type of each leaf."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


@pytest.mark.parametrize("event_type", sorted(INBOX_DOCS))
def test_examples_carry_every_field_inbox_documents(event_type: str) -> None:
    example = dict(CATALOG[event_type].example)
    documented = INBOX_DOCS[event_type]
    assert set(documented) <= set(example), set(documented) - set(example)
    for field, value in documented.items():
        assert _shape(example[field]) == _shape(value), field
    assert example["to"].startswith("+"), "Inbox's recipient is a phone number"


@pytest.mark.parametrize(
    ("event_type", "inbox_type"),
    [("text.delivered", "message.delivered"), ("text.delivery_failed", "message.failed")],
)
def test_text_events_use_inboxs_field_names(event_type: str, inbox_type: str) -> None:
    example = dict(CATALOG[event_type].example)
    shared = {"to", "delivered_at", "device_id", "error_code", "error_message", "failed_at"}
    assert shared & set(INBOX_DOCS[inbox_type]) <= set(example)
