"""Storage contract: identities, mailboxes, phone numbers and signing keys."""

from __future__ import annotations

import asyncio
import dataclasses
import re

import pytest

from hookline.core.errors import Conflict
from hookline.core.models import Identity, Organization
from hookline.storage.base import Storage
from hookline.storage.records import StoredKey

from .conftest import (
    NOW_MS,
    OTHER_ORG_ID,
    add_organization,
    add_subscription,
    make_api_key,
    make_identity,
    make_mailbox,
    make_org,
    make_phone_number,
    make_subscription,
)


@pytest.fixture
async def agent(storage: Storage, org: Organization) -> Identity:
    ident = make_identity(org.id, "agent-007")
    await storage.insert_identity(ident)
    return ident


# -- identities ------------------------------------------------------------------------------
async def test_identity_is_found_by_handle_and_id(storage: Storage, agent: Identity) -> None:
    assert await storage.identity_by_handle(agent.organization_id, "agent-007") == agent
    assert await storage.identity_by_id(agent.organization_id, agent.id) == agent
    assert await storage.identity_by_handle(agent.organization_id, "agent-008") is None
    assert await storage.identity_by_id(agent.organization_id, make_identity().id) is None
    assert await storage.identity_by_handle(OTHER_ORG_ID, "agent-007") is None
    assert await storage.identity_by_id(OTHER_ORG_ID, agent.id) is None


async def test_identity_handle_is_unique_per_organization(
    storage: Storage, agent: Identity
) -> None:
    with pytest.raises(Conflict, match="agent-007"):
        await storage.insert_identity(make_identity(agent.organization_id, "agent-007"))

    await add_organization(storage, make_org(OTHER_ORG_ID))
    elsewhere = make_identity(OTHER_ORG_ID, "agent-007")
    await storage.insert_identity(elsewhere)
    assert await storage.identity_by_handle(OTHER_ORG_ID, "agent-007") == elsewhere
    assert await storage.identity_by_handle(agent.organization_id, "agent-007") == agent


async def test_list_identities_oldest_first_with_limit_and_offset(
    storage: Storage, org: Organization
) -> None:
    made = [make_identity(org.id, f"agent-{i}", at=NOW_MS + i) for i in (3, 1, 2, 0)]
    for ident in made:
        await storage.insert_identity(ident)
    oldest_first = sorted(made, key=lambda i: i.created_at_ms)

    assert await storage.list_identities(org.id, 10, 0) == oldest_first
    assert await storage.list_identities(org.id, 2, 1) == oldest_first[1:3]
    assert await storage.list_identities(org.id, 10, 4) == []
    assert await storage.list_identities(OTHER_ORG_ID, 10, 0) == []


async def test_delete_identity_without_references(storage: Storage, agent: Identity) -> None:
    org_id = agent.organization_id
    await storage.put_signing_key(org_id, agent.id, "enc:key", NOW_MS, only_if_missing=False)
    key, digest = make_api_key(org_id, scope="agent", identity_id=agent.id)
    await storage.insert_api_key(key, digest)
    assert await storage.revoke_api_key(org_id, key.id, NOW_MS + 1)

    await storage.delete_identity(org_id, agent.id)

    assert await storage.identity_by_id(org_id, agent.id) is None
    assert await storage.identity_by_handle(org_id, agent.agent_handle) is None
    assert await storage.current_signing_key(org_id, agent.id) is None
    # the revoked key stays listed, no longer bound to the identity
    assert await storage.api_key_by_hash(digest) == dataclasses.replace(
        key, agent_identity_id=None, revoked_at_ms=NOW_MS + 1
    )
    # the handle is free again
    await storage.insert_identity(make_identity(org_id, agent.agent_handle))


@pytest.mark.parametrize("reference", ["mailbox", "phone_number", "subscription", "agent_key"])
async def test_delete_identity_conflicts_while_referenced(
    storage: Storage, agent: Identity, reference: str
) -> None:
    org_id = agent.organization_id
    if reference == "mailbox":
        await storage.insert_mailbox(make_mailbox(org_id, identity_id=agent.id))
    elif reference == "phone_number":
        await storage.insert_phone_number(make_phone_number(org_id, identity_id=agent.id))
    elif reference == "subscription":
        await add_subscription(
            storage,
            make_subscription(org_id, agent_identity_id=agent.id, owner_identity_id=agent.id),
        )
    else:
        key, digest = make_api_key(org_id, scope="agent", identity_id=agent.id)
        await storage.insert_api_key(key, digest)

    with pytest.raises(Conflict):
        await storage.delete_identity(org_id, agent.id)
    assert await storage.identity_by_id(org_id, agent.id) == agent


async def test_delete_identity_once_its_subscription_is_deleted(
    storage: Storage, agent: Identity
) -> None:
    org_id = agent.organization_id
    sub = await add_subscription(
        storage, make_subscription(org_id, agent_identity_id=agent.id, owner_identity_id=agent.id)
    )
    with pytest.raises(Conflict):
        await storage.delete_identity(org_id, agent.id)
    assert await storage.delete_subscription(org_id, sub.id, NOW_MS + 1)

    await storage.delete_identity(org_id, agent.id)
    assert await storage.identity_by_id(org_id, agent.id) is None


# -- mailboxes -------------------------------------------------------------------------------
async def test_mailbox_is_found_by_address_and_id(storage: Storage, agent: Identity) -> None:
    org_id = agent.organization_id
    box = make_mailbox(org_id, "sales@mail.example.com", identity_id=agent.id)
    await storage.insert_mailbox(box)

    assert await storage.mailbox_by_address(org_id, "sales@mail.example.com") == box
    assert await storage.mailbox_by_id(org_id, box.id) == box
    assert await storage.mailbox_by_address(org_id, "other@mail.example.com") is None
    assert await storage.mailbox_by_address(OTHER_ORG_ID, "sales@mail.example.com") is None
    assert await storage.mailbox_by_id(OTHER_ORG_ID, box.id) is None


async def test_mailbox_address_is_unique(storage: Storage, org: Organization) -> None:
    box = make_mailbox(org.id, "sales@mail.example.com")
    await storage.insert_mailbox(box)
    with pytest.raises(Conflict, match=re.escape("sales@mail.example.com")):
        await storage.insert_mailbox(make_mailbox(org.id, "sales@mail.example.com"))
    assert await storage.list_mailboxes(org.id, 10, 0) == [box]


async def test_list_mailboxes_paged_and_by_identity(storage: Storage, agent: Identity) -> None:
    org_id = agent.organization_id
    a = make_mailbox(org_id, "a@mail.example.com", identity_id=agent.id, at=NOW_MS + 2)
    b = make_mailbox(org_id, "b@mail.example.com", at=NOW_MS)
    c = make_mailbox(org_id, "c@mail.example.com", identity_id=agent.id, at=NOW_MS + 1)
    for box in (a, b, c):
        await storage.insert_mailbox(box)

    assert await storage.list_mailboxes(org_id, 10, 0) == [b, c, a]
    assert await storage.list_mailboxes(org_id, 1, 1) == [c]
    assert await storage.list_mailboxes(org_id, 10, 0, identity_id=agent.id) == [c, a]
    assert await storage.list_mailboxes(org_id, 1, 1, identity_id=agent.id) == [a]
    assert await storage.list_mailboxes(org_id, 10, 0, identity_id=make_identity().id) == []
    assert await storage.list_mailboxes(OTHER_ORG_ID, 10, 0) == []


async def test_update_mailbox_sets_and_clears_the_webhook_url(
    storage: Storage, org: Organization
) -> None:
    box = make_mailbox(org.id, "a@mail.example.com")
    bystander = make_mailbox(org.id, "b@mail.example.com")
    await storage.insert_mailbox(box)
    await storage.insert_mailbox(bystander)

    await storage.update_mailbox(org.id, box.id, {"webhook_url": "https://hooks.example.com/m"})
    assert await storage.mailbox_by_id(org.id, box.id) == dataclasses.replace(
        box, webhook_url="https://hooks.example.com/m"
    )
    assert await storage.mailbox_by_id(org.id, bystander.id) == bystander

    # another organization cannot touch it
    await storage.update_mailbox(OTHER_ORG_ID, box.id, {"webhook_url": None})
    assert (await storage.mailbox_by_id(org.id, box.id)) == dataclasses.replace(
        box, webhook_url="https://hooks.example.com/m"
    )

    await storage.update_mailbox(org.id, box.id, {"webhook_url": None})
    assert await storage.mailbox_by_id(org.id, box.id) == box


# -- phone numbers ---------------------------------------------------------------------------
async def test_phone_number_is_found_by_number_and_id(storage: Storage, agent: Identity) -> None:
    org_id = agent.organization_id
    phone = make_phone_number(org_id, "+14155550123", identity_id=agent.id)
    await storage.insert_phone_number(phone)

    assert await storage.phone_number_by_number(org_id, "+14155550123") == phone
    assert await storage.phone_number_by_id(org_id, phone.id) == phone
    assert await storage.phone_number_by_number(org_id, "+14155550124") is None
    assert await storage.phone_number_by_number(OTHER_ORG_ID, "+14155550123") is None
    assert await storage.phone_number_by_id(OTHER_ORG_ID, phone.id) is None


async def test_phone_number_is_unique(storage: Storage, org: Organization) -> None:
    phone = make_phone_number(org.id, "+14155550123")
    await storage.insert_phone_number(phone)
    with pytest.raises(Conflict, match=r"\+14155550123"):
        await storage.insert_phone_number(make_phone_number(org.id, "+14155550123"))
    assert await storage.list_phone_numbers(org.id, 10, 0) == [phone]


async def test_list_phone_numbers_paged_and_by_identity(storage: Storage, agent: Identity) -> None:
    org_id = agent.organization_id
    a = make_phone_number(org_id, "+14155550101", identity_id=agent.id, at=NOW_MS + 2)
    b = make_phone_number(org_id, "+14155550102", at=NOW_MS)
    c = make_phone_number(org_id, "+14155550103", identity_id=agent.id, at=NOW_MS + 1)
    for phone in (a, b, c):
        await storage.insert_phone_number(phone)

    assert await storage.list_phone_numbers(org_id, 10, 0) == [b, c, a]
    assert await storage.list_phone_numbers(org_id, 2, 0) == [b, c]
    assert await storage.list_phone_numbers(org_id, 10, 0, identity_id=agent.id) == [c, a]
    assert await storage.list_phone_numbers(org_id, 10, 2, identity_id=agent.id) == []
    assert await storage.list_phone_numbers(OTHER_ORG_ID, 10, 0) == []


async def test_update_phone_number_changes_the_call_settings(
    storage: Storage, org: Organization
) -> None:
    phone = make_phone_number(org.id, "+14155550101")
    await storage.insert_phone_number(phone)
    changes = {
        "incoming_call_action": "webhook",
        "incoming_call_webhook_url": "https://calls.example.com/in",
    }
    await storage.update_phone_number(org.id, phone.id, changes)
    changed = dataclasses.replace(
        phone,
        incoming_call_action="webhook",
        incoming_call_webhook_url="https://calls.example.com/in",
    )
    assert await storage.phone_number_by_id(org.id, phone.id) == changed

    await storage.update_phone_number(OTHER_ORG_ID, phone.id, {"incoming_call_action": "x"})
    assert await storage.phone_number_by_id(org.id, phone.id) == changed

    await storage.update_phone_number(org.id, phone.id, {"incoming_call_action": "auto_accept"})
    assert await storage.phone_number_by_id(org.id, phone.id) == dataclasses.replace(
        changed, incoming_call_action="auto_accept"
    )


# -- signing keys ----------------------------------------------------------------------------
async def test_put_signing_key_replaces_the_current_one(storage: Storage, agent: Identity) -> None:
    org_id = agent.organization_id
    assert await storage.current_signing_key(org_id, agent.id) is None

    assert await storage.put_signing_key(org_id, agent.id, "enc:1", NOW_MS, only_if_missing=False)
    assert _pair(await storage.current_signing_key(org_id, agent.id)) == ("enc:1", NOW_MS)

    assert await storage.put_signing_key(
        org_id, agent.id, "enc:2", NOW_MS + 1, only_if_missing=False
    )
    assert _pair(await storage.current_signing_key(org_id, agent.id)) == ("enc:2", NOW_MS + 1)


async def test_put_signing_key_only_if_missing(storage: Storage, agent: Identity) -> None:
    org_id = agent.organization_id
    assert await storage.put_signing_key(org_id, agent.id, "enc:1", NOW_MS, only_if_missing=True)
    assert not await storage.put_signing_key(
        org_id, agent.id, "enc:2", NOW_MS + 1, only_if_missing=True
    )
    assert _pair(await storage.current_signing_key(org_id, agent.id)) == ("enc:1", NOW_MS)


async def test_signing_keys_are_per_owner(storage: Storage, agent: Identity) -> None:
    org_id = agent.organization_id
    other = make_identity(org_id, "agent-2")
    await storage.insert_identity(other)

    assert await storage.put_signing_key(org_id, None, "enc:org", NOW_MS, only_if_missing=True)
    assert _pair(await storage.current_signing_key(org_id, None)) == ("enc:org", NOW_MS)
    assert await storage.current_signing_key(org_id, agent.id) is None

    # the organization's key does not count as the identity's
    assert await storage.put_signing_key(
        org_id, agent.id, "enc:agent", NOW_MS + 1, only_if_missing=True
    )
    assert await storage.put_signing_key(
        org_id, other.id, "enc:other", NOW_MS + 2, only_if_missing=False
    )
    assert _pair(await storage.current_signing_key(org_id, None)) == ("enc:org", NOW_MS)
    assert _pair(await storage.current_signing_key(org_id, agent.id)) == ("enc:agent", NOW_MS + 1)
    assert _pair(await storage.current_signing_key(org_id, other.id)) == ("enc:other", NOW_MS + 2)
    assert await storage.current_signing_key(OTHER_ORG_ID, None) is None


async def test_concurrent_only_if_missing_stores_exactly_one_key(
    storage: Storage, agent: Identity
) -> None:
    org_id = agent.organization_id
    stored = await asyncio.gather(
        *(
            storage.put_signing_key(org_id, agent.id, f"enc:{i}", NOW_MS, only_if_missing=True)
            for i in range(8)
        )
    )
    assert stored.count(True) == 1
    winner = stored.index(True)
    assert _pair(await storage.current_signing_key(org_id, agent.id)) == (f"enc:{winner}", NOW_MS)


def _pair(found: StoredKey | None) -> tuple[str, int] | None:
    return (found.key_enc, found.created_ms) if found is not None else None
