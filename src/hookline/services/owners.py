"""The owner registry: identities, mailboxes and phone numbers."""

from __future__ import annotations

from hookline.core import ids, validation
from hookline.core.errors import NotFound, ValidationFailed
from hookline.core.models import Identity, Mailbox, PhoneNumber
from hookline.services.clock import Clock
from hookline.services.page import Page
from hookline.services.principal import Principal
from hookline.storage.base import Storage

INCOMING_CALL_ACTIONS = ("auto_accept", "auto_reject", "webhook")


class OwnerService:
    def __init__(self, storage: Storage, clock: Clock, *, allow_http: bool) -> None:
        self._storage = storage
        self._clock = clock
        self._allow_http = allow_http

    # identities --------------------------------------------------------------------------------
    async def create_identity(self, principal: Principal, agent_handle: str) -> Identity:
        principal.require_admin()
        ident = Identity(
            id=ids.new_uuid(),
            organization_id=principal.organization_id,
            agent_handle=validation.agent_handle(agent_handle),
            created_at_ms=self._clock.now_ms(),
        )
        await self._storage.insert_identity(ident)
        return ident

    async def list_identities(
        self, principal: Principal, limit: int, offset: int
    ) -> Page[Identity]:
        if not principal.is_admin:
            own = await self._storage.identity_by_id(
                principal.organization_id, principal.identity_id or ""
            )
            return Page.of([own][offset:] if own else [], limit)
        found = await self._storage.list_identities(principal.organization_id, limit + 1, offset)
        return Page.of(found, limit)

    async def identity(self, principal: Principal, agent_handle: str) -> Identity:
        ident = await self._storage.identity_by_handle(principal.organization_id, agent_handle)
        if ident is None or (not principal.is_admin and ident.id != principal.identity_id):
            raise NotFound("identity", agent_handle)
        return ident

    async def delete_identity(self, principal: Principal, agent_handle: str) -> None:
        principal.require_admin()
        ident = await self.identity(principal, agent_handle)
        await self._storage.delete_identity(principal.organization_id, ident.id)

    async def _identity_id(self, org_id: str, agent_handle: str | None) -> str | None:
        if agent_handle is None:
            return None
        ident = await self._storage.identity_by_handle(org_id, agent_handle)
        if ident is None:
            raise ValidationFailed("agent_handle", f"no identity {agent_handle!r}")
        return ident.id

    # mailboxes ---------------------------------------------------------------------------------
    async def create_mailbox(
        self, principal: Principal, email_address: str, agent_handle: str | None
    ) -> Mailbox:
        principal.require_admin()
        mailbox = Mailbox(
            id=ids.new_uuid(),
            organization_id=principal.organization_id,
            email_address=validation.email(email_address),
            agent_identity_id=await self._identity_id(principal.organization_id, agent_handle),
            webhook_url=None,
            created_at_ms=self._clock.now_ms(),
        )
        await self._storage.insert_mailbox(mailbox)
        return mailbox

    async def list_mailboxes(self, principal: Principal, limit: int, offset: int) -> Page[Mailbox]:
        found = await self._storage.list_mailboxes(
            principal.organization_id,
            limit + 1,
            offset,
            None if principal.is_admin else principal.identity_id,
        )
        return Page.of(found, limit)

    async def mailbox(self, principal: Principal, email_address: str) -> Mailbox:
        mailbox = await self._storage.mailbox_by_address(
            principal.organization_id, email_address.lower()
        )
        if mailbox is None or not _visible(principal, mailbox.agent_identity_id):
            raise NotFound("mailbox", email_address)
        return mailbox

    # phone numbers -----------------------------------------------------------------------------
    async def create_phone_number(
        self, principal: Principal, number: str, agent_handle: str | None
    ) -> PhoneNumber:
        principal.require_admin()
        phone = PhoneNumber(
            id=ids.new_uuid(),
            organization_id=principal.organization_id,
            number=validation.e164(number),
            agent_identity_id=await self._identity_id(principal.organization_id, agent_handle),
            incoming_call_action="auto_reject",
            incoming_call_webhook_url=None,
            created_at_ms=self._clock.now_ms(),
        )
        await self._storage.insert_phone_number(phone)
        return phone

    async def list_phone_numbers(
        self, principal: Principal, limit: int, offset: int
    ) -> Page[PhoneNumber]:
        found = await self._storage.list_phone_numbers(
            principal.organization_id,
            limit + 1,
            offset,
            None if principal.is_admin else principal.identity_id,
        )
        return Page.of(found, limit)

    async def phone_number(self, principal: Principal, number_id: str) -> PhoneNumber:
        phone = await self._storage.phone_number_by_id(principal.organization_id, number_id)
        if phone is None or not _visible(principal, phone.agent_identity_id):
            raise NotFound("phone number", number_id)
        return phone


def _visible(principal: Principal, owner_identity_id: str | None) -> bool:
    return principal.is_admin or (
        owner_identity_id is not None and owner_identity_id == principal.identity_id
    )
