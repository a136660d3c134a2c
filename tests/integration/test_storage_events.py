"""Storage contract: events written with their deliveries, atomically and idempotently."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
import sqlalchemy as sa

from hookline.core import ids
from hookline.core.errors import EventConflict
from hookline.core.models import Organization, Subscription
from hookline.storage.base import Storage
from hookline.storage.records import NewDeliveries, Published

from .conftest import (
    NOW_MS,
    OTHER_ORG_ID,
    add_organization,
    add_subscription,
    make_delivery,
    make_event,
    make_identity,
    make_org,
    make_subscription,
)

#: the in-memory storage implements these roles (conftest.py)
pytestmark = pytest.mark.memory


@pytest.fixture
async def subs(storage: Storage, org: Organization) -> list[Subscription]:
    return [
        await add_subscription(storage, make_subscription(org.id, url=f"https://h{i}.example.com"))
        for i in range(3)
    ]


async def test_event_is_stored_with_its_deliveries(
    storage: Storage, org: Organization, subs: list[Subscription]
) -> None:
    ev = make_event(
        org.id,
        type="message.bounced",
        data={"message_id": "m1", "to": ["ü@example.com"], "n": 3, "ok": True, "none": None},
        domain="example.com",
        at=NOW_MS - 5,
    )
    ds = [make_delivery(ev, s, due_ms=NOW_MS + i) for i, s in enumerate(subs)]

    published = await storage.insert_events_with_deliveries(
        [NewDeliveries(event=ev, deliveries=ds)]
    )

    assert published == [Published(event=ev, deliveries=3, created=True)]
    assert await storage.get_event(org.id, ev.id) == ev
    assert await storage.deliveries_of_event(org.id, ev.id) == sorted(ds, key=lambda d: d.id)
    assert await storage.count_deliveries(org.id) == {"pending": 3}


async def test_event_owner_fields_round_trip(storage: Storage, org: Organization) -> None:
    ident = make_identity(org.id)
    ev = make_event(
        org.id,
        type="text.received",
        mailbox_id=ids.new_uuid(),
        phone_number_id=ids.new_uuid(),
        agent_identity_id=ident.id,
    )
    [published] = await storage.insert_events_with_deliveries(
        [NewDeliveries(event=ev, deliveries=[])]
    )
    assert published == Published(event=ev, deliveries=0, created=True)
    assert await storage.get_event(org.id, ev.id) == ev
    assert await storage.deliveries_of_event(org.id, ev.id) == []


async def test_repeated_event_id_writes_nothing_and_reports_the_stored_event(
    storage: Storage, org: Organization, subs: list[Subscription]
) -> None:
    ev = make_event(org.id, data={"v": 1})
    first = [make_delivery(ev, s) for s in subs[:2]]
    await storage.insert_events_with_deliveries([NewDeliveries(event=ev, deliveries=first)])

    # the same event again (a retry): its times may differ, and its data's encoding
    again = dataclasses.replace(ev, created_at_ms=NOW_MS + 9, occurred_at_ms=NOW_MS + 9)
    assert again.data_json is None  # written by the storage's own encoder
    [published] = await storage.insert_events_with_deliveries(
        [NewDeliveries(event=again, deliveries=[make_delivery(again, s) for s in subs])]
    )

    assert published == Published(event=ev, deliveries=2, created=False)
    assert await storage.get_event(org.id, ev.id) == ev
    assert await storage.deliveries_of_event(org.id, ev.id) == sorted(first, key=lambda d: d.id)
    assert await storage.count_deliveries(org.id) == {"pending": 2}


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({"type": "message.sent"}, "type"),
        ({"data": {"v": 2}}, "data"),
        ({"data": {"v": True}}, "data"),  # Python's == takes True for 1: JSON does not
        ({"data": {"v": 1.0}}, "data"),
        ({"domain": "example.org"}, "domain"),
        ({"agent_identity_id": "00000000-0000-0000-0000-000000000001"}, "owner"),
        ({"mailbox_id": "00000000-0000-0000-0000-000000000002"}, "owner"),
        ({"phone_number_id": "00000000-0000-0000-0000-000000000003"}, "owner"),
    ],
)
async def test_repeated_event_id_with_other_content_is_a_conflict(
    storage: Storage,
    org: Organization,
    subs: list[Subscription],
    change: dict[str, Any],
    differs: str,
) -> None:
    ev = make_event(org.id, data={"v": 1}, domain="example.com")
    first = [make_delivery(ev, subs[0])]
    await storage.insert_events_with_deliveries([NewDeliveries(event=ev, deliveries=first)])
    other = dataclasses.replace(ev, **change)
    fresh = make_event(org.id)

    with pytest.raises(EventConflict) as caught:
        await storage.insert_events_with_deliveries(
            [
                NewDeliveries(event=fresh, deliveries=[make_delivery(fresh, subs[1])]),
                NewDeliveries(event=other, deliveries=[make_delivery(other, subs[2])]),
            ]
        )

    assert (caught.value.event_id, caught.value.differs, caught.value.index) == (ev.id, differs, 1)
    # nothing of that call is written: not even its new event
    assert await storage.get_event(org.id, fresh.id) is None
    assert await storage.get_event(org.id, ev.id) == ev
    assert await storage.deliveries_of_event(org.id, ev.id) == first
    assert await storage.count_deliveries(org.id) == {"pending": 1}


async def test_data_of_a_repeat_compares_as_json_not_as_text(
    storage: Storage, org: Organization
) -> None:
    """The stored text and the repeat's own encoding may differ (key order, spacing)."""
    ev = dataclasses.replace(
        make_event(org.id, data={"a": 1, "b": [1, 2]}), data_json='{"a":1,"b":[1,2]}'
    )
    await storage.insert_events_with_deliveries([NewDeliveries(event=ev, deliveries=[])])
    again = dataclasses.replace(ev, data={"b": [1, 2], "a": 1}, data_json='{"b": [1, 2], "a": 1}')
    [published] = await storage.insert_events_with_deliveries(
        [NewDeliveries(event=again, deliveries=[])]
    )
    assert not published.created


async def test_a_conflict_fails_only_its_own_call_among_concurrent_publishes(
    storage: Storage, org: Organization, subs: list[Subscription]
) -> None:
    """Publishes that wait together share a transaction (group commit): the one whose event
    conflicts fails alone, the others are written."""
    known = make_event(org.id, data={"v": 1})
    await storage.insert_events_with_deliveries([NewDeliveries(event=known, deliveries=[])])
    fresh = [make_event(org.id) for _ in range(4)]
    calls = [
        storage.insert_events_with_deliveries(
            [NewDeliveries(event=e, deliveries=[make_delivery(e, subs[0])])]
        )
        for e in fresh
    ]
    calls.insert(
        2,
        storage.insert_events_with_deliveries(
            [NewDeliveries(event=dataclasses.replace(known, data={"v": 2}), deliveries=[])]
        ),
    )

    outcomes = await asyncio.gather(*calls, return_exceptions=True)

    assert isinstance(outcomes[2], EventConflict)
    assert [o[0].created for o in outcomes if isinstance(o, list)] == [True] * 4
    for e in fresh:
        assert await storage.get_event(org.id, e.id) == e
    assert await storage.count_deliveries(org.id) == {"pending": 4}


async def test_batch_mixes_new_known_and_repeated_ids_in_order(
    storage: Storage, org: Organization, subs: list[Subscription]
) -> None:
    known = make_event(org.id)
    await storage.insert_events_with_deliveries(
        [NewDeliveries(event=known, deliveries=[make_delivery(known, subs[0])])]
    )
    fresh = make_event(org.id)
    fresh_ds = [make_delivery(fresh, s) for s in subs]
    twin = dataclasses.replace(fresh, created_at_ms=NOW_MS + 1)

    published = await storage.insert_events_with_deliveries(
        [
            NewDeliveries(event=fresh, deliveries=fresh_ds),
            NewDeliveries(event=known, deliveries=[make_delivery(known, s) for s in subs]),
            NewDeliveries(event=twin, deliveries=[make_delivery(twin, subs[0])]),
        ]
    )

    assert published == [
        Published(event=fresh, deliveries=3, created=True),
        Published(event=known, deliveries=1, created=False),
        Published(event=fresh, deliveries=3, created=False),
    ]
    assert await storage.get_event(org.id, fresh.id) == fresh
    assert await storage.count_deliveries(org.id) == {"pending": 4}


async def test_a_later_copy_with_other_content_in_one_batch_is_a_conflict(
    storage: Storage, org: Organization, subs: list[Subscription]
) -> None:
    fresh = make_event(org.id)
    twin = dataclasses.replace(fresh, data={"copy": True})

    with pytest.raises(EventConflict) as caught:
        await storage.insert_events_with_deliveries(
            [
                NewDeliveries(event=fresh, deliveries=[make_delivery(fresh, subs[0])]),
                NewDeliveries(event=twin, deliveries=[]),
            ]
        )

    assert (caught.value.event_id, caught.value.differs, caught.value.index) == (
        fresh.id,
        "data",
        1,
    )
    assert await storage.get_event(org.id, fresh.id) is None
    assert await storage.count_deliveries(org.id) == {}


async def test_a_conflict_in_a_large_batch_writes_nothing(
    storage: Storage, org: Organization, subs: list[Subscription]
) -> None:
    """Large enough for SQLite's own road for big publishes (sqlite.py, on its thread)."""
    known = make_event(org.id, data={"v": 1})
    await storage.insert_events_with_deliveries([NewDeliveries(event=known, deliveries=[])])
    batch = [make_event(org.id) for _ in range(300)]
    items = [NewDeliveries(event=e, deliveries=[make_delivery(e, s) for s in subs]) for e in batch]
    items.insert(150, NewDeliveries(event=dataclasses.replace(known, data={"v": 2}), deliveries=[]))

    with pytest.raises(EventConflict) as caught:
        await storage.insert_events_with_deliveries(items)

    assert (caught.value.event_id, caught.value.index) == (known.id, 150)
    assert await storage.get_event(org.id, batch[0].id) is None
    assert await storage.count_deliveries(org.id) == {}


async def test_batch_is_atomic(
    storage: Storage, org: Organization, subs: list[Subscription]
) -> None:
    good = make_event(org.id)
    bad = make_event(org.id)
    ghost = make_subscription(org.id)  # never stored: its delivery breaks a foreign key

    with pytest.raises(sa.exc.IntegrityError):
        await storage.insert_events_with_deliveries(
            [
                NewDeliveries(event=good, deliveries=[make_delivery(good, subs[0])]),
                NewDeliveries(
                    event=bad, deliveries=[make_delivery(bad, subs[1]), make_delivery(bad, ghost)]
                ),
            ]
        )

    assert await storage.get_event(org.id, good.id) is None
    assert await storage.get_event(org.id, bad.id) is None
    assert await storage.count_deliveries() == {}
    # and nothing is half-known: the same batch minus the ghost goes through whole
    published = await storage.insert_events_with_deliveries(
        [
            NewDeliveries(event=good, deliveries=[make_delivery(good, subs[0])]),
            NewDeliveries(event=bad, deliveries=[make_delivery(bad, subs[1])]),
        ]
    )
    assert [(p.created, p.deliveries) for p in published] == [(True, 1), (True, 1)]


async def test_event_ids_are_per_organization(
    storage: Storage, org: Organization, subs: list[Subscription]
) -> None:
    await add_organization(storage, make_org(OTHER_ORG_ID))
    ours = make_event(org.id, data={"org": "ours"})
    theirs = dataclasses.replace(ours, organization_id=OTHER_ORG_ID, data={"org": "theirs"})

    published = await storage.insert_events_with_deliveries(
        [
            NewDeliveries(event=ours, deliveries=[make_delivery(ours, subs[0])]),
            NewDeliveries(event=theirs, deliveries=[]),
        ]
    )

    assert [p.created for p in published] == [True, True]
    assert await storage.get_event(org.id, ours.id) == ours
    assert await storage.get_event(OTHER_ORG_ID, ours.id) == theirs
    assert await storage.deliveries_of_event(OTHER_ORG_ID, ours.id) == []
    assert await storage.count_deliveries(org.id) == {"pending": 1}
    assert await storage.count_deliveries(OTHER_ORG_ID) == {}


async def test_unknown_event(storage: Storage, org: Organization) -> None:
    assert await storage.get_event(org.id, "evt_missing") is None
    assert await storage.deliveries_of_event(org.id, "evt_missing") == []


async def test_deliveries_of_event_for_an_owner_include_deleted_subscriptions(
    storage: Storage, org: Organization
) -> None:
    a, b = make_identity(org.id, "a"), make_identity(org.id, "b")
    for ident in (a, b):
        await storage.insert_identity(ident)
    on_a = await add_subscription(
        storage, make_subscription(org.id, agent_identity_id=a.id, owner_identity_id=a.id)
    )
    on_b = await add_subscription(
        storage, make_subscription(org.id, agent_identity_id=b.id, owner_identity_id=b.id)
    )
    org_wide = await add_subscription(storage, make_subscription(org.id))
    ev = make_event(org.id, agent_identity_id=a.id)
    da, db, dw = (make_delivery(ev, s) for s in (on_a, on_b, org_wide))
    await storage.insert_events_with_deliveries([NewDeliveries(event=ev, deliveries=[da, db, dw])])
    assert await storage.delete_subscription(org.id, on_a.id, NOW_MS + 1)

    [mine] = await storage.deliveries_of_event(org.id, ev.id, owner_identity_id=a.id)
    assert (mine.id, mine.state, mine.last_error) == (da.id, "cancelled", "subscription deleted")
    assert await storage.deliveries_of_event(org.id, ev.id, owner_identity_id=b.id) == [db]
    assert await storage.deliveries_of_event(org.id, ev.id, owner_identity_id="nobody") == []
    everything = await storage.deliveries_of_event(org.id, ev.id)
    assert [d.id for d in everything] == sorted([da.id, db.id, dw.id])
