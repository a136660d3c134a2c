"""Storage contract: console users, sessions and set-up tokens (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hookline.core import ids
from hookline.core.errors import Conflict
from hookline.core.models import Organization
from hookline.core.users import ConsoleSession, User
from hookline.storage.base import Storage

from .conftest import NOW_MS, OTHER_ORG_ID, add_organization, make_identity, make_org

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"


def make_user(org_id: str, email: str = "ann@example.com", **kw: object) -> User:
    values: dict[str, object] = {
        "id": ids.new_uuid(),
        "organization_id": org_id,
        "email": email,
        "role": "admin",
        "agent_identity_id": None,
        "created_at_ms": NOW_MS,
        "password_changed_at_ms": NOW_MS,
    }
    values.update(kw)
    return User(**values)  # type: ignore[arg-type]


def make_session(user: User, sid: str = "a" * 64, *, at: int = NOW_MS) -> ConsoleSession:
    return ConsoleSession(
        id=sid,
        user_id=user.id,
        created_at_ms=at,
        last_seen_at_ms=at,
        expires_at_ms=at + 3_600_000,
        csrf_secret="csrf-" + sid[:8],
    )


async def test_a_user_round_trips_with_its_hash(storage: Storage, org: Organization) -> None:
    ident = make_identity(org.id)
    await storage.insert_identity(ident)
    user = make_user(org.id, role="agent", agent_identity_id=ident.id)
    await storage.insert_user(user, HASH)
    assert await storage.user_by_id(org.id, user.id) == user
    assert await storage.user_credentials(org.id, "ann@example.com") == (user, HASH)
    assert await storage.user_credentials(org.id, "bob@example.com") is None
    assert await storage.count_users(org.id) == 1


async def test_emails_are_unique_per_organization(storage: Storage, org: Organization) -> None:
    await storage.insert_user(make_user(org.id), HASH)
    with pytest.raises(Conflict):
        await storage.insert_user(make_user(org.id), HASH)
    await add_organization(storage, make_org(OTHER_ORG_ID, name="other"))
    await storage.insert_user(make_user(OTHER_ORG_ID), HASH)
    assert [u.email for u in await storage.list_users(OTHER_ORG_ID, 10, 0)] == ["ann@example.com"]
    assert await storage.user_credentials(OTHER_ORG_ID, "ann@example.com") is not None
    assert await storage.count_users(org.id) == 1


async def test_users_list_by_email_with_paging(storage: Storage, org: Organization) -> None:
    for name in ("cy", "ann", "bob"):
        await storage.insert_user(make_user(org.id, f"{name}@example.com"), HASH)
    listed = await storage.list_users(org.id, 2, 1)
    assert [u.email for u in listed] == ["bob@example.com", "cy@example.com"]


async def test_sessions_are_read_with_their_user_and_touched(
    storage: Storage, org: Organization
) -> None:
    user = make_user(org.id)
    await storage.insert_user(user, HASH)
    session = make_session(user)
    await storage.insert_console_session(session)
    assert await storage.console_session(session.id) == (session, user)
    await storage.touch_console_session(session.id, NOW_MS + 5_000)
    found = await storage.console_session(session.id)
    assert found is not None
    assert found[0] == replace(session, last_seen_at_ms=NOW_MS + 5_000)
    await storage.touch_console_session(session.id, NOW_MS + 1_000)  # never backwards
    found = await storage.console_session(session.id)
    assert found is not None
    assert found[0].last_seen_at_ms == NOW_MS + 5_000
    assert await storage.console_session("b" * 64) is None


async def test_revoking_one_session_or_all_of_a_user(storage: Storage, org: Organization) -> None:
    ann, bob = make_user(org.id), make_user(org.id, "bob@example.com")
    for u in (ann, bob):
        await storage.insert_user(u, HASH)
    await storage.insert_console_session(make_session(ann, "1" * 64))
    await storage.insert_console_session(make_session(ann, "2" * 64))
    await storage.insert_console_session(make_session(bob, "3" * 64))
    assert await storage.revoke_console_sessions(NOW_MS + 1, session_id="1" * 64) == 1
    assert await storage.revoke_console_sessions(NOW_MS + 2, session_id="1" * 64) == 0
    assert await storage.revoke_console_sessions(NOW_MS + 3, user_id=ann.id) == 1
    revoked = [await storage.console_session(s * 64) for s in "123"]
    assert [f[0].revoked_at_ms if f else "gone" for f in revoked] == [NOW_MS + 1, NOW_MS + 3, None]


async def test_a_new_password_revokes_every_session(storage: Storage, org: Organization) -> None:
    user = make_user(org.id)
    await storage.insert_user(user, HASH)
    await storage.insert_console_session(make_session(user))
    assert await storage.set_user_password(org.id, user.id, "new-hash", NOW_MS + 9)
    found = await storage.user_credentials(org.id, user.email)
    assert found is not None
    assert found[1] == "new-hash"
    assert found[0].password_changed_at_ms == NOW_MS + 9
    session = await storage.console_session("a" * 64)
    assert session is not None
    assert session[0].revoked_at_ms == NOW_MS + 9
    assert not await storage.set_user_password(org.id, ids.new_uuid(), "x", NOW_MS)


async def test_disabling_a_user_revokes_its_sessions(storage: Storage, org: Organization) -> None:
    user = make_user(org.id)
    await storage.insert_user(user, HASH)
    await storage.insert_console_session(make_session(user))
    assert await storage.disable_user(org.id, user.id, NOW_MS + 7)
    assert await storage.disable_user(org.id, user.id, NOW_MS + 8)  # keeps the first time
    got = await storage.user_by_id(org.id, user.id)
    assert got is not None
    assert got.disabled_at_ms == NOW_MS + 7
    session = await storage.console_session("a" * 64)
    assert session is not None
    assert session[0].revoked_at_ms == NOW_MS + 7
    assert not await storage.disable_user(OTHER_ORG_ID, user.id, NOW_MS)


async def test_a_setup_token_makes_the_first_user_once(storage: Storage, org: Organization) -> None:
    await storage.insert_setup_token(org.id, "t" * 64, NOW_MS, NOW_MS + 1000)
    await storage.insert_setup_token(org.id, "u" * 64, NOW_MS, NOW_MS + 1000)
    await storage.insert_setup_token(org.id, "x" * 64, NOW_MS, NOW_MS + 10)
    first = make_user(org.id)
    assert not await storage.redeem_setup_token("x" * 64, NOW_MS + 10, first, HASH)  # expired
    assert not await storage.redeem_setup_token("n" * 64, NOW_MS, first, HASH)  # unknown
    assert await storage.redeem_setup_token("t" * 64, NOW_MS + 1, first, HASH)
    assert await storage.user_credentials(org.id, first.email) == (first, HASH)
    again = make_user(org.id, "eve@example.com")
    assert not await storage.redeem_setup_token("t" * 64, NOW_MS + 2, again, HASH)  # used
    # another link, once a user exists: refused, and still unused (the refusal changed nothing)
    assert not await storage.redeem_setup_token("u" * 64, NOW_MS + 2, again, HASH)
    assert await storage.count_users(org.id) == 1
