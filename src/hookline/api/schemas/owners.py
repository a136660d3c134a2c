"""Owner registry schemas: identities, mailboxes, phone numbers."""

from __future__ import annotations

from typing import get_args

from pydantic import Field

from hookline.api.schemas.common import In, IncomingCallAction, Out, enum
from hookline.core.models import Identity, Mailbox, PhoneNumber
from hookline.core.timefmt import iso_from_ms
from hookline.core.validation import E164_PATTERN, EMAIL_PATTERN, HANDLE_PATTERN


class IdentityCreate(In):
    """A new identity."""

    agent_handle: str = Field(
        max_length=128, json_schema_extra={"pattern": HANDLE_PATTERN}, examples=["support-agent"]
    )
    """Its unique handle: 1-128 letters, digits, `_`, `.` or `-`, starting with a letter or
    digit."""


class IdentityOut(Out):
    """An identity: an agent or user of the platform that owns channels."""

    id: str
    """Its id (subscriptions' `agent_identity_id`)."""
    agent_handle: str
    """Its unique handle."""
    organization_id: str
    """The organization."""
    created_at: str
    """When it was registered (ISO 8601)."""

    @classmethod
    def of(cls, i: Identity) -> IdentityOut:
        return cls(
            id=i.id,
            agent_handle=i.agent_handle,
            organization_id=i.organization_id,
            created_at=iso_from_ms(i.created_at_ms),
        )


class IdentityList(Out):
    """A page of identities."""

    identities: list[IdentityOut]
    """Identities, oldest first."""
    has_more: bool
    """More rows follow: ask again with a larger `offset`."""


class MailboxCreate(In):
    """A new mailbox."""

    email_address: str = Field(
        max_length=254,
        json_schema_extra={"pattern": EMAIL_PATTERN},
        examples=["support@example.com"],
    )
    """Its unique email address."""
    agent_handle: str | None = None
    """The identity that owns it, if any."""


class MailboxOut(Out):
    """A mailbox."""

    id: str
    """Its id (subscriptions' `mailbox_id`)."""
    email_address: str
    """Its email address."""
    agent_identity_id: str | None
    """The identity that owns it, if any."""
    webhook_url: str | None
    """Its all-events webhook (profile `inkbox`), if set."""
    created_at: str
    """When it was registered (ISO 8601)."""

    @classmethod
    def of(cls, m: Mailbox) -> MailboxOut:
        return cls(
            id=m.id,
            email_address=m.email_address,
            agent_identity_id=m.agent_identity_id,
            webhook_url=m.webhook_url,
            created_at=iso_from_ms(m.created_at_ms),
        )


class MailboxList(Out):
    """A page of mailboxes."""

    mailboxes: list[MailboxOut]
    """Mailboxes, oldest first."""
    has_more: bool
    """More rows follow: ask again with a larger `offset`."""


class PhoneNumberCreate(In):
    """A new phone number."""

    number: str = Field(
        max_length=16, json_schema_extra={"pattern": E164_PATTERN}, examples=["+15551234567"]
    )
    """Its unique number in E.164 form (`+` and up to 15 digits)."""
    agent_handle: str | None = None
    """The identity that owns it, if any."""


class PhoneNumberOut(Out):
    """A phone number."""

    id: str
    """Its id (subscriptions' `phone_number_id`)."""
    number: str
    """The number, E.164."""
    agent_identity_id: str | None
    """The identity that owns it, if any."""
    incoming_call_action: str = Field(json_schema_extra=enum(*get_args(IncomingCallAction)))
    """How incoming calls are answered: `auto_accept`, `auto_reject`, or `webhook` (ask
    `incoming_call_webhook_url`)."""
    incoming_call_webhook_url: str | None
    """The URL asked about incoming calls when the action is `webhook`."""
    created_at: str
    """When it was registered (ISO 8601)."""

    @classmethod
    def of(cls, p: PhoneNumber) -> PhoneNumberOut:
        return cls(
            id=p.id,
            number=p.number,
            agent_identity_id=p.agent_identity_id,
            incoming_call_action=p.incoming_call_action,
            incoming_call_webhook_url=p.incoming_call_webhook_url,
            created_at=iso_from_ms(p.created_at_ms),
        )


class PhoneNumberList(Out):
    """A page of phone numbers."""

    phone_numbers: list[PhoneNumberOut]
    """Phone numbers, oldest first."""
    has_more: bool
    """More rows follow: ask again with a larger `offset`."""


class MailboxUpdate(In):
    """The mailbox's all-events webhook."""

    webhook_url: str | None = Field(max_length=2048)
    """The URL to send every event of the mailbox to (profile `inkbox`), or null to stop."""


class MailboxUpdated(MailboxOut):
    """The mailbox, after the change."""

    #: the organization's signing key, when setting webhook_url minted it (shown once)
    signing_key: str | None = None
    """The owner's signing key, when setting `webhook_url` minted it (shown this once)."""


class PhoneNumberUpdate(In):
    """How the number answers incoming calls; fields left out keep their values."""

    incoming_call_action: IncomingCallAction | None = None
    """`auto_accept`, `auto_reject` or `webhook`."""
    incoming_call_webhook_url: str | None = Field(None, max_length=2048)
    """The URL to ask (required when the action is `webhook`), or null."""
