"""Owner registry schemas: identities, mailboxes, phone numbers."""

from __future__ import annotations

from pydantic import Field

from hookline.api.schemas.common import In, Out
from hookline.core.models import Identity, Mailbox, PhoneNumber
from hookline.core.timefmt import iso_from_ms


class IdentityCreate(In):
    agent_handle: str = Field(max_length=128)


class IdentityOut(Out):
    id: str
    agent_handle: str
    organization_id: str
    created_at: str

    @classmethod
    def of(cls, i: Identity) -> IdentityOut:
        return cls(
            id=i.id,
            agent_handle=i.agent_handle,
            organization_id=i.organization_id,
            created_at=iso_from_ms(i.created_at_ms),
        )


class IdentityList(Out):
    identities: list[IdentityOut]
    #: more rows follow: ask again with a larger ``offset``
    has_more: bool


class MailboxCreate(In):
    email_address: str = Field(max_length=254)
    agent_handle: str | None = None


class MailboxOut(Out):
    id: str
    email_address: str
    agent_identity_id: str | None
    webhook_url: str | None
    created_at: str

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
    mailboxes: list[MailboxOut]
    #: more rows follow: ask again with a larger ``offset``
    has_more: bool


class PhoneNumberCreate(In):
    number: str = Field(max_length=16)
    agent_handle: str | None = None


class PhoneNumberOut(Out):
    id: str
    number: str
    agent_identity_id: str | None
    incoming_call_action: str
    incoming_call_webhook_url: str | None
    created_at: str

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
    phone_numbers: list[PhoneNumberOut]
    #: more rows follow: ask again with a larger ``offset``
    has_more: bool


class MailboxUpdate(In):
    webhook_url: str | None = Field(max_length=2048)


class MailboxUpdated(MailboxOut):
    #: the organization's signing key, when setting webhook_url minted it (shown once)
    signing_key: str | None = None


class PhoneNumberUpdate(In):
    incoming_call_action: str | None = None
    incoming_call_webhook_url: str | None = Field(None, max_length=2048)
