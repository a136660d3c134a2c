"""Storage contract: events written with their deliveries, atomically and idempotently."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from hookline.core import ids
from hookline.core.models import Organization, Subscription
from hookline.storage.base import NewDeliveries, Published, Storage

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

    again = dataclasses.replace(ev, data={"v": 2}, type="message.sent", created_at_ms=NOW_MS + 9)
    [published] = await storage.insert_events_with_deliveries(
        [NewDeliveries(event=again, deliveries=[make_delivery(again, s) for s in subs])]
    )

    assert published == Published(event=ev, deliveries=2, created=False)
    assert await storage.get_event(org.id, ev.id) == ev
    assert await storage.deliveries_of_event(org.id, ev.id) == sorted(first, key=lambda d: d.id)
    assert await storage.count_deliveries(org.id) == {"pending": 2}


async def test_batch_mixes_new_known_and_repeated_ids_in_order(
    storage: Storage, org: Organization, subs: list[Subscription]
) -> None:
    known = make_event(org.id)
    await storage.insert_events_with_deliveries(
        [NewDeliveries(event=known, deliveries=[make_delivery(known, subs[0])])]
    )
    fresh = make_event(org.id)
    fresh_ds = [make_delivery(fresh, s) for s in subs]
    twin = dataclasses.replace(fresh, data={"copy": True})

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
