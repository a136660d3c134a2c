"""Storage contract: the recent events, newest first, a page at a time (the console's list)."""

from __future__ import annotations

import pytest

from hookline.core.models import Event, Organization
from hookline.storage.base import Storage
from hookline.storage.records import NewDeliveries

from .conftest import NOW_MS, OTHER_ORG_ID, add_organization, make_event, make_org

#: the in-memory storage implements these roles (conftest.py)
pytestmark = pytest.mark.memory


async def _publish(storage: Storage, *events: Event) -> None:
    await storage.insert_events_with_deliveries(
        [NewDeliveries(event=e, deliveries=[]) for e in events]
    )


async def test_recent_events_are_newest_first_and_page_by_cursor(
    storage: Storage, org: Organization
) -> None:
    # two share a time: the id breaks the tie, so paging neither skips nor repeats them
    events = [make_event(org.id, at=NOW_MS + i) for i in range(4)]
    twin = make_event(org.id, at=NOW_MS + 2)
    await _publish(storage, *events, twin)
    expected = sorted([*events, twin], key=lambda e: (e.created_at_ms, e.id), reverse=True)

    first = await storage.recent_events(org.id, 2)
    assert [e.id for e in first] == [e.id for e in expected[:2]]
    cursor = (first[-1].created_at_ms, first[-1].id)
    second = await storage.recent_events(org.id, 2, before=cursor)
    assert [e.id for e in second] == [e.id for e in expected[2:4]]
    cursor = (second[-1].created_at_ms, second[-1].id)
    assert [e.id for e in await storage.recent_events(org.id, 2, before=cursor)] == [expected[4].id]


async def test_recent_events_of_one_identity_and_one_organization(
    storage: Storage, org: Organization
) -> None:
    await add_organization(storage, make_org(OTHER_ORG_ID, name="Other"))
    mine = make_event(org.id, agent_identity_id="00000000-0000-0000-0000-0000000000a1")
    theirs = make_event(org.id, agent_identity_id="00000000-0000-0000-0000-0000000000a2")
    unowned = make_event(org.id)
    elsewhere = make_event(OTHER_ORG_ID, agent_identity_id=mine.agent_identity_id)
    await _publish(storage, mine, theirs, unowned, elsewhere)

    only_mine = await storage.recent_events(org.id, 10, agent_identity_id=mine.agent_identity_id)
    assert only_mine == [mine]
    assert {e.id for e in await storage.recent_events(org.id, 10)} == {
        mine.id,
        theirs.id,
        unowned.id,
    }
