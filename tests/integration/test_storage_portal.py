"""Storage contract: portal links are redeemed once, before they expire, into a session that
carries their scope."""

from __future__ import annotations

import asyncio
import dataclasses

from hookline.core.models import Organization
from hookline.core.portal import PortalScope
from hookline.core.users import ConsoleSession
from hookline.storage.base import Storage

from .conftest import NOW_MS

IDENTITY = "00000000-0000-0000-0000-0000000000a1"
MAILBOX = "00000000-0000-0000-0000-0000000000b1"


def _session(n: int = 1) -> ConsoleSession:
    return ConsoleSession(
        id=f"{n:064x}",
        user_id="",
        created_at_ms=NOW_MS,
        last_seen_at_ms=NOW_MS,
        expires_at_ms=NOW_MS + 3_600_000,
        csrf_secret="c" * 43,
    )


def _scope(org: Organization) -> PortalScope:
    return PortalScope(
        organization_id=org.id, agent_identity_id=IDENTITY, label="a@x.com", mailbox_id=MAILBOX
    )


async def test_a_link_opens_one_session_with_its_scope(storage: Storage, org: Organization) -> None:
    scope = _scope(org)
    await storage.insert_portal_link("a" * 64, scope, NOW_MS, NOW_MS + 60_000)
    assert await storage.portal_session(_session().id) is None
    assert await storage.redeem_portal_link("a" * 64, NOW_MS + 1, _session()) == scope
    assert await storage.portal_session(_session().id) == (_session(), scope)
    # once: the second opening writes no session
    assert await storage.redeem_portal_link("a" * 64, NOW_MS + 2, _session(2)) is None
    assert await storage.portal_session(_session(2).id) is None


async def test_an_expired_or_unknown_link_opens_nothing(
    storage: Storage, org: Organization
) -> None:
    await storage.insert_portal_link("b" * 64, _scope(org), NOW_MS, NOW_MS + 60_000)
    assert await storage.redeem_portal_link("b" * 64, NOW_MS + 60_000, _session()) is None
    assert await storage.redeem_portal_link("c" * 64, NOW_MS, _session()) is None
    assert await storage.portal_session(_session().id) is None


async def test_two_openings_at_once_open_one_session(storage: Storage, org: Organization) -> None:
    await storage.insert_portal_link("d" * 64, _scope(org), NOW_MS, NOW_MS + 60_000)
    results = await asyncio.gather(
        *(storage.redeem_portal_link("d" * 64, NOW_MS + 1, _session(n)) for n in range(1, 5))
    )
    assert sum(r is not None for r in results) == 1


async def test_touch_and_revoke_a_portal_session(storage: Storage, org: Organization) -> None:
    await storage.insert_portal_link("e" * 64, _scope(org), NOW_MS, NOW_MS + 60_000)
    await storage.redeem_portal_link("e" * 64, NOW_MS, _session())
    await storage.touch_portal_session(_session().id, NOW_MS + 5)
    await storage.revoke_portal_session(_session().id, NOW_MS + 9)
    found = await storage.portal_session(_session().id)
    assert found is not None
    assert found[0] == dataclasses.replace(
        _session(), last_seen_at_ms=NOW_MS + 5, revoked_at_ms=NOW_MS + 9
    )
