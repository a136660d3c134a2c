"""Console users, sessions and set-up tokens: the SQL shared by both databases.

These writes change no delivery configuration, so they run as ``_transact`` transactions:
PostgreSQL then sends no "configuration changed" notification, and no process drops its
publish path's cache because somebody signed in (see cached_reads.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hookline.core.errors import Conflict
from hookline.core.users import ConsoleSession, Role, User
from hookline.storage import tables as t
from hookline.storage.sql_base import SqlBase

T = TypeVar("T")
_u, _s, _k, _p = t.users, t.console_sessions, t.setup_tokens, t.password_tokens
_SESSION_USER = sa.select(_s, *[c.label("u_" + c.name) for c in _u.c]).select_from(
    _s.join(_u, _u.c.id == _s.c.user_id)
)


def _user(r: Mapping[Any, Any], prefix: str = "") -> User:
    return User(
        id=r[prefix + "id"],
        organization_id=r[prefix + "organization_id"],
        email=r[prefix + "email"],
        role=cast(Role, r[prefix + "role"]),
        agent_identity_id=r[prefix + "agent_identity_id"],
        created_at_ms=r[prefix + "created_ms"],
        password_changed_at_ms=r[prefix + "password_changed_ms"],
        disabled_at_ms=r[prefix + "disabled_ms"],
    )


def _user_values(user: User, password_hash: str) -> dict[str, Any]:
    return {
        "id": user.id,
        "organization_id": user.organization_id,
        "email": user.email,
        "password_hash": password_hash,
        "role": user.role,
        "agent_identity_id": user.agent_identity_id,
        "created_ms": user.created_at_ms,
        "password_changed_ms": user.password_changed_at_ms,
        "disabled_ms": user.disabled_at_ms,
    }


def _revoke(conn: sa.Connection, user_id: str, now_ms: int) -> int:
    res = conn.execute(
        _s.update()
        .where(_s.c.user_id == user_id, _s.c.revoked_ms.is_(None))
        .values(revoked_ms=now_ms)
    )
    return int(res.rowcount)


class _AlreadySetUp(Exception):
    pass


class ConsoleRows(SqlBase):
    """Console users, their sessions and tokens."""

    async def insert_user(self, user: User, password_hash: str) -> None:
        def write(conn: sa.Connection) -> None:
            conn.execute(_u.insert().values(**_user_values(user, password_hash)))

        try:
            await self._transact(write)
        except IntegrityError as exc:
            raise Conflict(f"a user with email {user.email!r} already exists") from exc

    async def user_by_id(self, org_id: str, user_id: str) -> User | None:
        row = await self._one(
            sa.select(_u).where(_u.c.organization_id == org_id, _u.c.id == user_id)
        )
        return _user(row) if row else None

    async def user_credentials(self, org_id: str, email: str) -> tuple[User, str] | None:
        row = await self._one(
            sa.select(_u).where(_u.c.organization_id == org_id, _u.c.email == email)
        )
        return (_user(row), row["password_hash"]) if row else None

    async def list_users(self, org_id: str, limit: int, offset: int) -> list[User]:
        stmt = (
            sa.select(_u)
            .where(_u.c.organization_id == org_id)
            .order_by(_u.c.email)
            .limit(limit)
            .offset(offset)
        )
        return [_user(r) for r in await self._all(stmt)]

    async def count_users(self, org_id: str) -> int:
        row = await self._one(
            sa.select(sa.func.count().label("n")).where(_u.c.organization_id == org_id)
        )
        return int(row["n"]) if row else 0

    async def set_user_password(
        self, org_id: str, user_id: str, password_hash: str, now_ms: int
    ) -> bool:
        def write(conn: sa.Connection) -> bool:
            res = conn.execute(
                _u.update()
                .where(_u.c.organization_id == org_id, _u.c.id == user_id)
                .values(password_hash=password_hash, password_changed_ms=now_ms)
            )
            if not res.rowcount:
                return False
            _revoke(conn, user_id, now_ms)
            return True

        return await self._transact(write)

    async def disable_user(self, org_id: str, user_id: str, now_ms: int) -> bool:
        def write(conn: sa.Connection) -> bool:
            res = conn.execute(
                _u.update()
                .where(_u.c.organization_id == org_id, _u.c.id == user_id)
                .values(disabled_ms=sa.func.coalesce(_u.c.disabled_ms, now_ms))
            )
            if not res.rowcount:
                return False
            _revoke(conn, user_id, now_ms)
            return True

        return await self._transact(write)

    async def insert_console_session(self, session: ConsoleSession) -> None:
        values = {
            "id": session.id,
            "user_id": session.user_id,
            "created_ms": session.created_at_ms,
            "last_seen_ms": session.last_seen_at_ms,
            "expires_ms": session.expires_at_ms,
            "revoked_ms": session.revoked_at_ms,
            "csrf_secret": session.csrf_secret,
        }
        await self._transact(lambda conn: conn.execute(_s.insert().values(**values)))

    async def console_session(self, session_id: str) -> tuple[ConsoleSession, User] | None:
        row = await self._one(_SESSION_USER.where(_s.c.id == session_id))
        if row is None:
            return None
        session = ConsoleSession(
            id=row["id"],
            user_id=row["user_id"],
            created_at_ms=row["created_ms"],
            last_seen_at_ms=row["last_seen_ms"],
            expires_at_ms=row["expires_ms"],
            csrf_secret=row["csrf_secret"],
            revoked_at_ms=row["revoked_ms"],
        )
        return session, _user(row, "u_")

    async def touch_console_session(self, session_id: str, now_ms: int) -> None:
        stmt = (
            _s.update()
            .where(_s.c.id == session_id, _s.c.last_seen_ms < now_ms)
            .values(last_seen_ms=now_ms)
        )
        await self._transact(lambda conn: conn.execute(stmt))

    async def revoke_console_sessions(
        self, now_ms: int, *, session_id: str | None = None, user_id: str | None = None
    ) -> int:
        if (session_id is None) == (user_id is None):
            raise ValueError("give exactly one of session_id and user_id")

        def write(conn: sa.Connection) -> int:
            if user_id is not None:
                return _revoke(conn, user_id, now_ms)
            res = conn.execute(
                _s.update()
                .where(_s.c.id == session_id, _s.c.revoked_ms.is_(None))
                .values(revoked_ms=now_ms)
            )
            return int(res.rowcount)

        return await self._transact(write)

    async def insert_setup_token(
        self, org_id: str, token_hash: str, now_ms: int, expires_ms: int
    ) -> None:
        values = {
            "id": token_hash,
            "organization_id": org_id,
            "created_ms": now_ms,
            "expires_ms": expires_ms,
            "used_ms": None,
        }
        await self._transact(lambda conn: conn.execute(_k.insert().values(**values)))

    async def redeem_setup_token(
        self, token_hash: str, now_ms: int, user: User, password_hash: str
    ) -> bool:
        def write(conn: sa.Connection) -> bool:
            res = conn.execute(
                _k.update()
                .where(
                    _k.c.id == token_hash,
                    _k.c.organization_id == user.organization_id,
                    _k.c.used_ms.is_(None),
                    _k.c.expires_ms > now_ms,
                )
                .values(used_ms=now_ms)
            )
            if not res.rowcount:
                return False
            # two set-up links redeemed at once: the users' count decides, under the lock the
            # token's update took (PostgreSQL: the organization's row, below)
            org = t.organizations
            conn.execute(
                sa.select(org.c.id).where(org.c.id == user.organization_id).with_for_update()
            )
            count = conn.execute(
                sa.select(sa.func.count()).where(_u.c.organization_id == user.organization_id)
            ).scalar_one()
            if count:
                raise _AlreadySetUp  # undoes the token's use: the link was not what failed
            conn.execute(_u.insert().values(**_user_values(user, password_hash)))
            return True

        try:
            return await self._transact(write)
        except _AlreadySetUp:
            return False

    async def insert_password_token(
        self, token_hash: str, user_id: str, now_ms: int, expires_ms: int
    ) -> None:
        values = {
            "id": token_hash,
            "user_id": user_id,
            "created_ms": now_ms,
            "expires_ms": expires_ms,
            "used_ms": None,
        }
        await self._transact(lambda conn: conn.execute(_p.insert().values(**values)))

    async def redeem_password_token(
        self, token_hash: str, now_ms: int, password_hash: str
    ) -> User | None:
        def write(conn: sa.Connection) -> User | None:
            res = conn.execute(
                _p.update()
                .where(_p.c.id == token_hash, _p.c.used_ms.is_(None), _p.c.expires_ms > now_ms)
                .values(used_ms=now_ms)
            )
            if not res.rowcount:
                return None
            user_id = conn.execute(
                sa.select(_p.c.user_id).where(_p.c.id == token_hash)
            ).scalar_one()
            conn.execute(
                _u.update()
                .where(_u.c.id == user_id)
                .values(password_hash=password_hash, password_changed_ms=now_ms)
            )
            _revoke(conn, user_id, now_ms)
            row = conn.execute(sa.select(_u).where(_u.c.id == user_id)).mappings().one()
            return _user(row)

        return await self._transact(write)
