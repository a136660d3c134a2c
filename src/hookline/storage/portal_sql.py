"""Portal links and the sessions they open: the SQL shared by both databases.

Like the console's users and sessions (console_sql.py), these writes change no delivery
configuration, so they run as ``_transact`` transactions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import sqlalchemy as sa

from hookline.core.portal import PortalScope
from hookline.core.users import ConsoleSession
from hookline.storage import tables as t
from hookline.storage.sql_base import SqlBase

T = TypeVar("T")
_l, _s = t.portal_links, t.portal_sessions
#: the user id a portal session's ``ConsoleSession`` carries: it has no user
PORTAL_USER_ID = ""


def _scope_values(scope: PortalScope) -> dict[str, Any]:
    return {
        "organization_id": scope.organization_id,
        "agent_identity_id": scope.agent_identity_id,
        "mailbox_id": scope.mailbox_id,
        "phone_number_id": scope.phone_number_id,
        "label": scope.label,
    }


def _scope(r: Mapping[Any, Any]) -> PortalScope:
    return PortalScope(
        organization_id=r["organization_id"],
        agent_identity_id=r["agent_identity_id"],
        label=r["label"],
        mailbox_id=r["mailbox_id"],
        phone_number_id=r["phone_number_id"],
    )


class PortalRows(SqlBase):
    """Portal links and their sessions."""

    async def insert_portal_link(
        self, token_hash: str, scope: PortalScope, now_ms: int, expires_ms: int
    ) -> None:
        values = {
            "id": token_hash,
            **_scope_values(scope),
            "created_ms": now_ms,
            "expires_ms": expires_ms,
            "used_ms": None,
        }
        await self._transact(lambda conn: conn.execute(_l.insert().values(**values)))

    async def redeem_portal_link(
        self, token_hash: str, now_ms: int, session: ConsoleSession
    ) -> PortalScope | None:
        def write(conn: sa.Connection) -> PortalScope | None:
            # the update is the race's referee: of two opening one link, one changes the row
            res = conn.execute(
                _l.update()
                .where(_l.c.id == token_hash, _l.c.used_ms.is_(None), _l.c.expires_ms > now_ms)
                .values(used_ms=now_ms)
            )
            if not res.rowcount:
                return None
            row = conn.execute(sa.select(_l).where(_l.c.id == token_hash)).mappings().one()
            scope = _scope(row)
            conn.execute(
                _s.insert().values(
                    id=session.id,
                    **_scope_values(scope),
                    created_ms=session.created_at_ms,
                    last_seen_ms=session.last_seen_at_ms,
                    expires_ms=session.expires_at_ms,
                    revoked_ms=None,
                    csrf_secret=session.csrf_secret,
                )
            )
            return scope

        return await self._transact(write)

    async def portal_session(self, session_id: str) -> tuple[ConsoleSession, PortalScope] | None:
        row = await self._one(sa.select(_s).where(_s.c.id == session_id))
        if row is None:
            return None
        session = ConsoleSession(
            id=row["id"],
            user_id=PORTAL_USER_ID,
            created_at_ms=row["created_ms"],
            last_seen_at_ms=row["last_seen_ms"],
            expires_at_ms=row["expires_ms"],
            csrf_secret=row["csrf_secret"],
            revoked_at_ms=row["revoked_ms"],
        )
        return session, _scope(row)

    async def touch_portal_session(self, session_id: str, now_ms: int) -> None:
        stmt = (
            _s.update()
            .where(_s.c.id == session_id, _s.c.last_seen_ms < now_ms)
            .values(last_seen_ms=now_ms)
        )
        await self._transact(lambda conn: conn.execute(stmt))

    async def revoke_portal_session(self, session_id: str, now_ms: int) -> None:
        stmt = (
            _s.update()
            .where(_s.c.id == session_id, _s.c.revoked_ms.is_(None))
            .values(revoked_ms=now_ms)
        )
        await self._transact(lambda conn: conn.execute(stmt))
