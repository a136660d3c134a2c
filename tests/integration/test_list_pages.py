"""The services' pages on each database: ``has_more`` from one row past the limit."""

from __future__ import annotations

from hookline.core.models import Organization
from hookline.services.clock import SystemClock
from hookline.services.deliveries import MAX_PAGE, DeliveryService
from hookline.services.owners import OwnerService
from hookline.services.principal import Principal
from hookline.storage.base import Storage
from hookline.storage.records import AttemptFilter

from .conftest import NOW_MS, add_subscription, make_attempt, make_subscription, publish


async def test_an_events_attempts_say_when_more_were_logged(
    storage: Storage, org: Organization
) -> None:
    sub = await add_subscription(storage, make_subscription(org.id))
    ev, _ = await publish(storage, [sub])
    admin = Principal(organization_id=org.id, scope="admin")
    service = DeliveryService(storage)
    for n in range(MAX_PAGE):
        await storage.insert_attempt(make_attempt(ev, sub=sub, at=NOW_MS + n))

    _, _, attempts = await service.of_event(admin, ev.id)
    assert (len(attempts.items), attempts.has_more) == (MAX_PAGE, False)

    await storage.insert_attempt(make_attempt(ev, sub=sub, at=NOW_MS + MAX_PAGE))
    _, _, attempts = await service.of_event(admin, ev.id)
    assert (len(attempts.items), attempts.has_more) == (MAX_PAGE, True)
    # the delivery log pages through all of them; its limit is clamped, has_more kept exact
    log = await service.attempts(admin, AttemptFilter(event_id=ev.id, limit=10_000))
    assert (len(log.items), log.has_more) == (MAX_PAGE, True)
    rest = await service.attempts(admin, AttemptFilter(event_id=ev.id, offset=MAX_PAGE))
    assert (len(rest.items), rest.has_more) == (1, False)


async def test_an_agent_sees_a_page_of_its_one_identity(
    storage: Storage, org: Organization
) -> None:
    owners = OwnerService(storage, SystemClock(), allow_http=False)
    admin = Principal(organization_id=org.id, scope="admin")
    ada = await owners.create_identity(admin, "ada")
    await owners.create_identity(admin, "bob")
    agent = Principal(organization_id=org.id, scope="agent", identity_id=ada.id)

    assert (await owners.list_identities(admin, 1, 0)).has_more is True
    mine = await owners.list_identities(agent, 1, 0)
    assert (mine.items, mine.has_more) == ([ada], False)
    past = await owners.list_identities(agent, 1, 1)
    assert (past.items, past.has_more) == ([], False)
