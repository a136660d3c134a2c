"""Storage contract: a one-time password link sets its user's password once, before it
expires, and ends the user's sessions."""

from __future__ import annotations

from hookline.core.models import Organization
from hookline.core.users import ConsoleSession, User
from hookline.storage.base import Storage

from .conftest import NOW_MS

USER_ID = "00000000-0000-0000-0000-0000000000c1"


def _user(org: Organization) -> User:
    return User(
        id=USER_ID,
        organization_id=org.id,
        email="u@example.com",
        role="viewer",
        agent_identity_id=None,
        created_at_ms=NOW_MS,
        password_changed_at_ms=NOW_MS,
    )


async def test_a_password_link_works_once_and_ends_sessions(
    storage: Storage, org: Organization
) -> None:
    await storage.insert_user(_user(org), "old-hash")
    session = ConsoleSession(
        id="f" * 64,
        user_id=USER_ID,
        created_at_ms=NOW_MS,
        last_seen_at_ms=NOW_MS,
        expires_at_ms=NOW_MS + 60_000,
        csrf_secret="c",
    )
    await storage.insert_console_session(session)
    await storage.insert_password_token("a" * 64, USER_ID, NOW_MS, NOW_MS + 60_000)
    await storage.insert_password_token("b" * 64, USER_ID, NOW_MS, NOW_MS + 60_000)

    assert await storage.redeem_password_token("b" * 64, NOW_MS + 60_000, "late") is None
    assert await storage.redeem_password_token("z" * 64, NOW_MS, "unknown") is None
    done = await storage.redeem_password_token("a" * 64, NOW_MS + 5, "new-hash")
    assert done is not None and done.password_changed_at_ms == NOW_MS + 5
    assert await storage.redeem_password_token("a" * 64, NOW_MS + 6, "again") is None
    found = await storage.user_credentials(org.id, "u@example.com")
    assert found is not None and found[1] == "new-hash"
    ended = await storage.console_session(session.id)
    assert ended is not None and ended[0].revoked_at_ms == NOW_MS + 5
