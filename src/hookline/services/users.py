"""Console users: create, authenticate, disable, reset passwords; their sessions and the
one-time set-up link for the first admin."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from typing import cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hookline.core import ids, validation
from hookline.core.errors import NotFound, ValidationFailed
from hookline.core.frozen import frozen
from hookline.core.models import Organization
from hookline.core.users import (
    MAX_PASSWORD_LEN,
    MIN_PASSWORD_LEN,
    ROLES,
    ConsoleSession,
    Role,
    User,
)
from hookline.services import argon2id
from hookline.services.clock import Clock
from hookline.services.keys import DEFAULT_ORG_NAME
from hookline.services.principal import Principal
from hookline.storage.base import Storage

SETUP_TOKEN_TTL_MS = 24 * 3600 * 1000  # a set-up link printed at start works for a day
#: a one-time link with which a user sets their own password works for a day
PASSWORD_LINK_TTL_MS = 24 * 3600 * 1000
#: how often at most an active session's ``last_seen`` is written
TOUCH_EVERY_MS = 60_000


def token_hash(raw: str) -> str:
    """Session and set-up tokens carry 256 random bits: one SHA-256 stores them safely."""
    return hashlib.sha256(raw.encode()).hexdigest()


@frozen
class SignedIn:
    """A session just started: the raw token goes into the cookie, and nowhere else."""

    token: str
    session: ConsoleSession
    user: User


def principal_of(user: User) -> Principal:
    """The services' principal for a console user: an admin's, or an agent key's for agents.
    A viewer reads as an admin does; the console refuses its every change before this."""
    if user.role == "agent":
        return Principal(
            organization_id=user.organization_id,
            scope="agent",
            identity_id=user.agent_identity_id,
        )
    return Principal(organization_id=user.organization_id, scope="admin")


class UserService:
    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        idle_s: int,
        max_age_s: int,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._idle_ms = idle_s * 1000
        self._max_age_ms = max_age_s * 1000
        self._hasher = hasher or argon2id.hasher()
        self._org: Organization | None = None
        self._dummy_hash: str | None = None

    # -- the organization --------------------------------------------------------------------
    async def organization(self) -> Organization:
        """The default organization, which console users belong to."""
        if self._org is None:
            self._org = await self._storage.ensure_default_organization(
                Organization(
                    id=ids.new_org_id(), name=DEFAULT_ORG_NAME, created_at_ms=self._clock.now_ms()
                )
            )
        return self._org

    # -- passwords ---------------------------------------------------------------------------
    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < MIN_PASSWORD_LEN:
            raise ValidationFailed("password", f"at least {MIN_PASSWORD_LEN} characters")
        if len(password) > MAX_PASSWORD_LEN:
            raise ValidationFailed("password", f"at most {MAX_PASSWORD_LEN} characters")

    async def _hash(self, password: str) -> str:
        # argon2 is slow on purpose (that is what makes guessing costly): off the event loop
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(verify)

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    # -- users -------------------------------------------------------------------------------
    async def _new_user(
        self, email: str, password: str, role: str, agent_handle: str | None
    ) -> tuple[User, str]:
        org = await self.organization()
        address = validation.email(email.strip(), field="email")
        if role not in ROLES:
            raise ValidationFailed("role", f"must be one of {', '.join(ROLES)}")
        identity_id = None
        if role == "agent":
            if not agent_handle:
                raise ValidationFailed("agent_handle", "an agent user needs its agent's handle")
            identity = await self._storage.identity_by_handle(org.id, agent_handle)
            if identity is None:
                raise ValidationFailed("agent_handle", f"no identity {agent_handle!r}")
            identity_id = identity.id
        elif agent_handle:
            raise ValidationFailed("agent_handle", "only agent users have an agent handle")
        self._check_password(password)
        now = self._clock.now_ms()
        user = User(
            id=ids.new_uuid(),
            organization_id=org.id,
            email=address,
            role=cast(Role, role),
            agent_identity_id=identity_id,
            created_at_ms=now,
            password_changed_at_ms=now,
        )
        return user, await self._hash(password)

    async def create(
        self, email: str, password: str, role: str, agent_handle: str | None = None
    ) -> User:
        """Raise ``ValidationFailed`` (field named) or ``Conflict`` (email taken)."""
        user, password_hash = await self._new_user(email, password, role, agent_handle)
        await self._storage.insert_user(user, password_hash)
        return user

    async def list(self, limit: int = 1000, offset: int = 0) -> list[User]:
        org = await self.organization()
        return await self._storage.list_users(org.id, limit, offset)

    async def by_email(self, email: str) -> User:
        org = await self.organization()
        found = await self._storage.user_credentials(org.id, email.strip().lower())
        if found is None:
            raise NotFound("user", email)
        return found[0]

    async def disable(self, email: str) -> User:
        user = await self.by_email(email)
        await self._storage.disable_user(user.organization_id, user.id, self._clock.now_ms())
        return user

    async def reset_password(self, email: str, password: str) -> User:
        """A new password; every session of the user ends."""
        user = await self.by_email(email)
        self._check_password(password)
        await self._storage.set_user_password(
            user.organization_id, user.id, await self._hash(password), self._clock.now_ms()
        )
        return user

    async def password_link(self, email: str) -> str:
        """A one-time token with which the user sets their own password (an admin's reset).
        Their password stays as it is until the link is used."""
        user = await self.by_email(email)
        token = secrets.token_urlsafe(32)
        now = self._clock.now_ms()
        await self._storage.insert_password_token(
            token_hash(token), user.id, now, now + PASSWORD_LINK_TTL_MS
        )
        return token

    async def create_with_link(self, email: str, role: str, agent_handle: str | None) -> str:
        """A new user whose password nobody knows, and the one-time token to set it."""
        user = await self.create(email, secrets.token_urlsafe(32), role, agent_handle)
        return await self.password_link(user.email)

    async def set_password_from_link(self, token: str, password: str) -> User:
        """The link's user gets ``password``; every session of theirs ends. ``NotFound``
        when the link is unknown, used or expired."""
        self._check_password(password)
        if not token or len(token) > 128:
            raise NotFound("password link", "")
        user = await self._storage.redeem_password_token(
            token_hash(token), self._clock.now_ms(), await self._hash(password)
        )
        if user is None:
            raise NotFound("password link", "")
        return user

    async def authenticate(self, email: str, password: str) -> User | None:
        """The active user of that email and password, or None. Unknown emails cost a
        verification too, against a dummy hash, so timing does not tell which exist."""
        org = await self.organization()
        dummy = await self._dummy()  # made before the look-up: the first miss costs no more
        found = None
        if len(password) <= MAX_PASSWORD_LEN:
            found = await self._storage.user_credentials(org.id, email.strip().lower())
        if found is None:
            await self._verify(dummy, password[:MAX_PASSWORD_LEN])
            return None
        user, password_hash = found
        if not await self._verify(password_hash, password) or not user.is_active:
            return None
        return user

    # -- sessions ----------------------------------------------------------------------------
    async def start_session(self, user: User) -> SignedIn:
        token = secrets.token_urlsafe(32)
        now = self._clock.now_ms()
        session = ConsoleSession(
            id=token_hash(token),
            user_id=user.id,
            created_at_ms=now,
            last_seen_at_ms=now,
            expires_at_ms=now + self._max_age_ms,
            csrf_secret=secrets.token_urlsafe(32),
        )
        await self._storage.insert_console_session(session)
        return SignedIn(token=token, session=session, user=user)

    async def session(self, token: str | None) -> tuple[ConsoleSession, User] | None:
        """The live session of a cookie's token and its active user, touched; else None."""
        if not token or len(token) > 128:
            return None
        found = await self._storage.console_session(token_hash(token))
        if found is None:
            return None
        session, user = found
        now = self._clock.now_ms()
        if not session.is_live(now, self._idle_ms) or not user.is_active:
            return None
        if session.needs_touch(now, self._idle_ms, TOUCH_EVERY_MS):
            await self._storage.touch_console_session(session.id, now)
        return session, user

    async def sign_out(self, session: ConsoleSession) -> None:
        await self._storage.revoke_console_sessions(self._clock.now_ms(), session_id=session.id)

    async def change_password(self, user: User, current: str, new: str) -> None:
        """The user's own change: the current password first. Every session ends."""
        found = await self._storage.user_credentials(user.organization_id, user.email)
        if found is None or not await self._verify(found[1], current):
            raise ValidationFailed("current_password", "is not your current password")
        self._check_password(new)
        await self._storage.set_user_password(
            user.organization_id, user.id, await self._hash(new), self._clock.now_ms()
        )

    # -- the first admin ---------------------------------------------------------------------
    async def setup_token_if_no_users(self) -> str | None:
        """A new one-time set-up token while the organization has no user, else None."""
        org = await self.organization()
        if await self._storage.count_users(org.id):
            return None
        token = secrets.token_urlsafe(32)
        now = self._clock.now_ms()
        await self._storage.insert_setup_token(
            org.id, token_hash(token), now, now + SETUP_TOKEN_TTL_MS
        )
        return token

    async def set_up_first_admin(self, token: str, email: str, password: str) -> User:
        """The first admin, from a set-up link. ``NotFound`` when the link is unknown, used,
        expired, or the organization has a user already."""
        user, password_hash = await self._new_user(email, password, "admin", None)
        if not await self._storage.redeem_setup_token(
            token_hash(token), self._clock.now_ms(), user, password_hash
        ):
            raise NotFound("set-up link", "")
        return user
