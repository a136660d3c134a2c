"""Customer portal links (core/portal.py): made with an admin key, opened once into a console
session scoped to one identity, or to one of its mailboxes or phone numbers."""

from __future__ import annotations

import secrets

from hookline.core.errors import ValidationFailed
from hookline.core.frozen import frozen
from hookline.core.portal import MAX_TTL_S, MIN_TTL_S, PortalScope
from hookline.core.users import ConsoleSession
from hookline.services.clock import Clock
from hookline.services.principal import Principal
from hookline.services.users import TOUCH_EVERY_MS, token_hash
from hookline.storage.base import Storage
from hookline.storage.portal_sql import PORTAL_USER_ID

#: longer than any token this service makes: a longer one is nobody's
MAX_TOKEN_LEN = 128


@frozen
class PortalLink:
    """A new link's token (it goes into the URL, and nowhere else) and its end."""

    token: str
    expires_at_ms: int


@frozen
class OpenedPortal:
    """A session a link just opened: the raw token goes into the cookie only."""

    token: str
    session: ConsoleSession
    scope: PortalScope


def principal_of_portal(scope: PortalScope) -> Principal:
    """What a portal session may do: an agent key's of its identity, limited to its channel."""
    return Principal(
        organization_id=scope.organization_id,
        scope="agent",
        identity_id=scope.agent_identity_id,
        mailbox_id=scope.mailbox_id,
        phone_number_id=scope.phone_number_id,
    )


class PortalService:
    def __init__(self, storage: Storage, clock: Clock, *, idle_s: int, max_age_s: int) -> None:
        self._storage = storage
        self._clock = clock
        self._idle_ms = idle_s * 1000
        self._max_age_ms = max_age_s * 1000

    async def create_link(
        self,
        principal: Principal,
        *,
        ttl_s: int,
        agent_handle: str | None = None,
        mailbox_id: str | None = None,
        phone_number_id: str | None = None,
    ) -> PortalLink:
        """A one-time link to the view of exactly one owner (admin key)."""
        principal.require_admin()
        named = [
            name
            for name, value in (
                ("agent_handle", agent_handle),
                ("mailbox_id", mailbox_id),
                ("phone_number_id", phone_number_id),
            )
            if value is not None
        ]
        if len(named) != 1:
            field = named[1] if named else "agent_handle"
            raise ValidationFailed(
                field, "name exactly one owner: agent_handle, mailbox_id or phone_number_id"
            )
        if not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
            raise ValidationFailed("ttl_s", f"must be between {MIN_TTL_S} and {MAX_TTL_S}")
        scope = await self._scope(
            principal.organization_id, named[0], agent_handle or mailbox_id or phone_number_id or ""
        )
        token = secrets.token_urlsafe(32)
        now = self._clock.now_ms()
        expires = now + ttl_s * 1000
        await self._storage.insert_portal_link(token_hash(token), scope, now, expires)
        return PortalLink(token=token, expires_at_ms=expires)

    async def _scope(self, org_id: str, kind: str, value: str) -> PortalScope:
        if kind == "agent_handle":
            ident = await self._storage.identity_by_handle(org_id, value)
            if ident is None:
                raise ValidationFailed(kind, f"no identity {value!r}")
            return PortalScope(
                organization_id=org_id, agent_identity_id=ident.id, label=ident.agent_handle
            )
        if kind == "mailbox_id":
            mailbox = await self._storage.mailbox_by_id(org_id, value)
            if mailbox is None:
                raise ValidationFailed(kind, f"no mailbox {value!r}")
            owner, label = mailbox.agent_identity_id, mailbox.email_address
        else:
            phone = await self._storage.phone_number_by_id(org_id, value)
            if phone is None:
                raise ValidationFailed(kind, f"no phone number {value!r}")
            owner, label = phone.agent_identity_id, phone.number
        if owner is None:
            # its webhooks are the organization's: no agent view shows them
            raise ValidationFailed(kind, "it belongs to no identity: give it one first")
        return PortalScope(
            organization_id=org_id,
            agent_identity_id=owner,
            label=label,
            mailbox_id=value if kind == "mailbox_id" else None,
            phone_number_id=value if kind == "phone_number_id" else None,
        )

    async def open(self, link_token: str) -> OpenedPortal | None:
        """The session the link opens, or None when it is unknown, used or expired."""
        if not link_token or len(link_token) > MAX_TOKEN_LEN:
            return None
        token = secrets.token_urlsafe(32)
        now = self._clock.now_ms()
        session = ConsoleSession(
            id=token_hash(token),
            user_id=PORTAL_USER_ID,
            created_at_ms=now,
            last_seen_at_ms=now,
            expires_at_ms=now + self._max_age_ms,
            csrf_secret=secrets.token_urlsafe(32),
        )
        scope = await self._storage.redeem_portal_link(token_hash(link_token), now, session)
        return None if scope is None else OpenedPortal(token=token, session=session, scope=scope)

    async def session(self, token: str | None) -> tuple[ConsoleSession, PortalScope] | None:
        """The live portal session of a cookie's token, touched; else None."""
        if not token or len(token) > MAX_TOKEN_LEN:
            return None
        found = await self._storage.portal_session(token_hash(token))
        if found is None:
            return None
        session, scope = found
        now = self._clock.now_ms()
        if not session.is_live(now, self._idle_ms):
            return None
        if session.needs_touch(now, self._idle_ms, TOUCH_EVERY_MS):
            await self._storage.touch_portal_session(session.id, now)
        return session, scope

    async def sign_out(self, session: ConsoleSession) -> None:
        await self._storage.revoke_portal_session(session.id, self._clock.now_ms())
