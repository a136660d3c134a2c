"""Console users, their sessions and tokens, and portal links."""

from __future__ import annotations

import abc

from hookline.core.portal import PortalScope
from hookline.core.users import ConsoleSession, User


class People(abc.ABC):
    """Console users, their sessions and tokens, and portal links."""

    # console users and sessions ------------------------------------------------------------
    @abc.abstractmethod
    async def insert_user(self, user: User, password_hash: str) -> None:
        """Raise ``Conflict`` when the organization has a user of that email."""

    @abc.abstractmethod
    async def user_by_id(self, org_id: str, user_id: str) -> User | None: ...

    @abc.abstractmethod
    async def user_credentials(self, org_id: str, email: str) -> tuple[User, str] | None:
        """The user of that (lower-case) email and its password hash."""

    @abc.abstractmethod
    async def list_users(self, org_id: str, limit: int, offset: int) -> list[User]: ...

    @abc.abstractmethod
    async def count_users(self, org_id: str) -> int: ...

    @abc.abstractmethod
    async def set_user_password(
        self, org_id: str, user_id: str, password_hash: str, now_ms: int
    ) -> bool:
        """Store a new hash and revoke the user's sessions, together. False: no such user."""

    @abc.abstractmethod
    async def disable_user(self, org_id: str, user_id: str, now_ms: int) -> bool:
        """Disable the user and revoke its sessions, together. False: no such user."""

    @abc.abstractmethod
    async def insert_console_session(self, session: ConsoleSession) -> None: ...

    @abc.abstractmethod
    async def console_session(self, session_id: str) -> tuple[ConsoleSession, User] | None:
        """The session (revoked or expired ones too: the caller judges) and its user."""

    @abc.abstractmethod
    async def touch_console_session(self, session_id: str, now_ms: int) -> None: ...

    @abc.abstractmethod
    async def revoke_console_sessions(
        self, now_ms: int, *, session_id: str | None = None, user_id: str | None = None
    ) -> int:
        """Revoke one session, or every live session of a user. Returns how many."""

    @abc.abstractmethod
    async def insert_setup_token(
        self, org_id: str, token_hash: str, now_ms: int, expires_ms: int
    ) -> None: ...

    @abc.abstractmethod
    async def redeem_setup_token(
        self, token_hash: str, now_ms: int, user: User, password_hash: str
    ) -> bool:
        """Mark an unused, unexpired token of ``user``'s organization used and insert ``user``,
        in one transaction, only while that organization has no user. False otherwise."""

    @abc.abstractmethod
    async def insert_password_token(
        self, token_hash: str, user_id: str, now_ms: int, expires_ms: int
    ) -> None: ...

    @abc.abstractmethod
    async def redeem_password_token(
        self, token_hash: str, now_ms: int, password_hash: str
    ) -> User | None:
        """Use the one-time link: set its user's password and end their sessions, at once;
        None (and nothing written) when it is unknown, used or expired."""

    # portal links and their sessions ----------------------------------------------------------
    @abc.abstractmethod
    async def insert_portal_link(
        self, token_hash: str, scope: PortalScope, now_ms: int, expires_ms: int
    ) -> None: ...

    @abc.abstractmethod
    async def redeem_portal_link(
        self, token_hash: str, now_ms: int, session: ConsoleSession
    ) -> PortalScope | None:
        """Mark the link used and start ``session`` with its scope, atomically; None (and
        nothing written) when the link is unknown, used or expired."""

    @abc.abstractmethod
    async def portal_session(self, session_id: str) -> tuple[ConsoleSession, PortalScope] | None:
        """A portal session (revoked or expired ones too: the service decides) and its scope."""

    @abc.abstractmethod
    async def touch_portal_session(self, session_id: str, now_ms: int) -> None: ...

    @abc.abstractmethod
    async def revoke_portal_session(self, session_id: str, now_ms: int) -> None: ...
