"""Storage contract: the delivery queue — claims and leases, release, requeue, due times, counts.

Outcomes (``record_outcomes``) are in ``test_storage_outcomes.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from typing import Any

import pytest

from hookline.core.models import ClaimedDelivery, Delivery, Organization, Subscription
from hookline.storage.base import Storage
from hookline.storage.factory import open_storage
from hookline.storage.records import Lease, NewDeliveries, SubscriptionSecrets

from .conftest import (
    LEASE_MS,
    NOW_MS,
    OTHER_ORG_ID,
    SECOND_MS,
    add_organization,
    add_subscription,
    make_delivery,
    make_event,
    make_identity,
    make_mailbox,
    make_org,
    make_outcome,
    make_subscription,
    publish,
    reload,
)

#: the in-memory storage implements these roles (conftest.py)
pytestmark = pytest.mark.memory


@pytest.fixture
async def sub(storage: Storage, org: Organization) -> Subscription:
    return await add_subscription(storage, make_subscription(org.id, url="https://a.example.com"))


@pytest.fixture
async def sub_b(storage: Storage, org: Organization) -> Subscription:
    return await add_subscription(storage, make_subscription(org.id, url="https://b.example.com"))


async def _publish_many(
    storage: Storage, sub: Subscription, n: int, *, due_ms: int = NOW_MS
) -> list[Delivery]:
    """``n`` events with one delivery each, in one batch."""
    items = []
    for _ in range(n):
        ev = make_event(sub.organization_id)
        items.append(NewDeliveries(event=ev, deliveries=[make_delivery(ev, sub, due_ms=due_ms)]))
    await storage.insert_events_with_deliveries(items)
    return [d for item in items for d in item.deliveries]


def _ids(claimed: list[ClaimedDelivery]) -> set[str]:
    return {c.delivery.id for c in claimed}


# -- claims ----------------------------------------------------------------------------------
async def test_claim_due_leases_what_is_due_with_everything_needed_to_send(
    storage: Storage, sub: Subscription
) -> None:
    ev, [due] = await publish(storage, [sub], due_ms=NOW_MS)
    _, [later] = await publish(storage, [sub], due_ms=NOW_MS + 10 * SECOND_MS)

    assert await storage.claim_due(NOW_MS - 1, 10, LEASE_MS) == []
    [claimed] = await storage.claim_due(NOW_MS, 10, LEASE_MS)

    assert claimed.delivery == dataclasses.replace(
        due, state="delivering", next_attempt_at_ms=NOW_MS + LEASE_MS, updated_at_ms=NOW_MS
    )
    assert claimed.event == ev
    assert claimed.subscription == sub
    assert claimed.lease_token
    assert claimed.secret_ciphertexts == ()
    assert claimed.auth_token_ciphertext is None
    assert await reload(storage, due) == claimed.delivery

    # leased now, and the other one is not due yet
    assert await storage.claim_due(NOW_MS + 1, 10, LEASE_MS) == []
    [second] = await storage.claim_due(NOW_MS + 10 * SECOND_MS, 10, LEASE_MS)
    assert second.delivery.id == later.id
    assert second.lease_token != claimed.lease_token


async def test_a_retry_is_claimed_with_its_history_as_stored(
    storage: Storage, sub: Subscription
) -> None:
    """A claimed delivery is the row as the lease left it, attempts and last answer included
    (SQLite builds it from what the lease set and what it reads)."""
    ev, [due] = await publish(storage, [sub], due_ms=NOW_MS)
    [first] = await storage.claim_due(NOW_MS, 10, LEASE_MS)
    retry_at = NOW_MS + 30 * SECOND_MS
    outcome = make_outcome(first, at=NOW_MS + 5, state="pending", status=503, next_ms=retry_at)
    assert (await storage.record_outcomes([outcome])).changed == 1
    [again] = await storage.claim_due(retry_at, 10, LEASE_MS)
    stored = await reload(storage, due)
    assert again.delivery == stored
    assert (again.delivery.attempts, again.delivery.last_status) == (1, 503)
    assert again.delivery.first_attempt_at_ms == NOW_MS + 5
    assert (again.delivery.state, again.delivery.next_attempt_at_ms) == (
        "delivering",
        retry_at + LEASE_MS,
    )
    assert again.delivery.updated_at_ms == retry_at
    assert again.event == ev


async def test_claim_due_takes_the_earliest_first_up_to_the_limit(
    storage: Storage, sub: Subscription
) -> None:
    ds = [(await publish(storage, [sub], due_ms=NOW_MS - i))[1][0] for i in range(5)]
    earliest = sorted(ds, key=lambda d: d.next_attempt_at_ms or 0)

    assert await storage.claim_due(NOW_MS, 0, LEASE_MS) == []
    first = await storage.claim_due(NOW_MS, 2, LEASE_MS)
    assert _ids(first) == {d.id for d in earliest[:2]}
    assert len({c.lease_token for c in first}) == 1
    rest = await storage.claim_due(NOW_MS, 10, LEASE_MS)
    assert _ids(rest) == {d.id for d in earliest[2:]}


async def test_claim_due_skips_excluded_subscriptions(
    storage: Storage, sub: Subscription, sub_b: Subscription
) -> None:
    _, [da, db] = await publish(storage, [sub, sub_b])

    assert await storage.claim_due(NOW_MS, 10, LEASE_MS, {sub.id, sub_b.id}) == []
    assert _ids(await storage.claim_due(NOW_MS, 10, LEASE_MS, [sub.id])) == {db.id}
    assert _ids(await storage.claim_due(NOW_MS, 10, LEASE_MS, ())) == {da.id}


async def test_an_expired_lease_is_claimable_again(storage: Storage, sub: Subscription) -> None:
    _, [d] = await publish(storage, [sub])
    [first] = await storage.claim_due(NOW_MS, 1, LEASE_MS)

    assert await storage.claim_due(NOW_MS + LEASE_MS - 1, 1, LEASE_MS) == []
    [second] = await storage.claim_due(NOW_MS + LEASE_MS, 1, 5 * SECOND_MS)

    assert second.delivery.id == d.id
    assert second.lease_token != first.lease_token
    assert second.delivery.next_attempt_at_ms == NOW_MS + LEASE_MS + 5 * SECOND_MS
    assert second.delivery.attempts == 0
    # the first holder lost it: giving it back changes nothing
    await storage.release([d.id], first.lease_token, NOW_MS + LEASE_MS + 1)
    assert await reload(storage, d) == second.delivery


async def test_claims_of_disabled_or_deleted_subscriptions_are_settled_not_returned(
    storage: Storage, sub: Subscription, sub_b: Subscription
) -> None:
    # deliveries written before the subscriptions changed (a publish racing an update)
    paused = await storage.update_subscription(
        sub.organization_id, sub.id, {"enabled": False, "disabled_reason": "paused"}, NOW_MS
    )
    assert paused is not None
    assert await storage.delete_subscription(sub.organization_id, sub_b.id, NOW_MS)
    _, [on_paused, on_deleted] = await publish(storage, [sub, sub_b], at=NOW_MS + 1)

    assert await storage.claim_due(NOW_MS + 1, 10, LEASE_MS) == []

    held = await reload(storage, on_paused)
    assert (held.state, held.last_error, held.next_attempt_at_ms) == ("held", "paused", None)
    cancelled = await reload(storage, on_deleted)
    assert (cancelled.state, cancelled.last_error) == ("cancelled", "subscription deleted")
    assert await storage.next_due_ms() is None


async def test_claims_carry_the_subscription_secrets(storage: Storage, org: Organization) -> None:
    grace = await add_subscription(storage, make_subscription(org.id, url="https://g.example.com"))
    await storage.update_subscription(
        org.id,
        grace.id,
        {},
        NOW_MS,
        SubscriptionSecrets(
            auth_token_enc="enc:token",
            secret_enc="enc:new",
            previous_secret_enc="enc:old",
            previous_secret_until_ms=NOW_MS + 10 * SECOND_MS,
        ),
    )
    _, [first] = await publish(storage, [grace], due_ms=NOW_MS)
    _, [second] = await publish(storage, [grace], due_ms=NOW_MS + 10 * SECOND_MS)

    [during] = await storage.claim_due(NOW_MS, 1, LEASE_MS)
    assert during.delivery.id == first.id
    assert during.secret_ciphertexts == ("enc:new", "enc:old")
    assert during.auth_token_ciphertext == "enc:token"
    assert during.subscription.has_auth_token is True

    [after] = await storage.claim_due(NOW_MS + 10 * SECOND_MS, 1, LEASE_MS)
    assert after.delivery.id == second.id
    assert after.secret_ciphertexts == ("enc:new",)


async def test_inkbox_claims_carry_the_owners_signing_key(
    storage: Storage, org: Organization
) -> None:
    agent, keyless = make_identity(org.id, "a"), make_identity(org.id, "keyless")
    for ident in (agent, keyless):
        await storage.insert_identity(ident)
    box = make_mailbox(org.id, identity_id=agent.id)
    unowned = make_mailbox(org.id, address="unowned@example.com")
    await storage.insert_mailbox(box)
    await storage.insert_mailbox(unowned)
    await storage.put_signing_key(org.id, None, "enc:org-old", NOW_MS - 2, only_if_missing=False)
    await storage.put_signing_key(
        org.id, None, "enc:org", NOW_MS - 1, only_if_missing=False, key_id="key-org"
    )
    await storage.put_signing_key(
        org.id, agent.id, "enc:agent", NOW_MS, only_if_missing=False, key_id="key-agent"
    )

    def inkbox(**fields: Any) -> Subscription:
        return make_subscription(org.id, profile="inkbox", **fields)

    expected = [
        (inkbox(agent_identity_id=agent.id, owner_identity_id=agent.id), ("enc:agent",)),
        (inkbox(), ("enc:org",)),
        # a mailbox's webhook_url signs with its owner's key: an agent never causes the
        # organization's; with no owner, the organization's
        (inkbox(mailbox_id=box.id, owner_identity_id=agent.id, source="mailbox"), ("enc:agent",)),
        (inkbox(mailbox_id=unowned.id, source="mailbox"), ("enc:org",)),
        (inkbox(agent_identity_id=keyless.id, owner_identity_id=keyless.id), ()),
    ]
    for s, _ in expected:
        await storage.insert_subscription(s, SubscriptionSecrets(secret_enc="enc:unused"))
    await publish(storage, [s for s, _ in expected])

    claimed = await storage.claim_due(NOW_MS, 10, LEASE_MS)
    assert {c.subscription.id: c.secret_ciphertexts for c in claimed} == {
        s.id: keys for s, keys in expected
    }
    # each key comes with its row, to which its ciphertext is bound
    ids = {"enc:org": "key-org", "enc:agent": "key-agent"}
    assert {c.subscription.id: c.signing_key_id for c in claimed} == {
        s.id: ids[keys[0]] if keys else None for s, keys in expected
    }


# -- concurrent claimers ---------------------------------------------------------------------
async def _drain(claimers: list[Storage], *, limit: int, rounds: int = 20) -> Counter[str]:
    """Claim concurrently (every claimer at once, several calls each) until nothing is left;
    count how often each delivery was handed out."""
    seen: Counter[str] = Counter()
    for _ in range(rounds):
        batches = await asyncio.gather(
            *(st.claim_due(NOW_MS, limit, LEASE_MS) for st in claimers for _ in range(6))
        )
        got = [c.delivery.id for batch in batches for c in batch]
        seen.update(got)
        if not got:
            break
    return seen


async def test_concurrent_claims_never_hand_out_a_delivery_twice(
    storage: Storage, sub: Subscription, sub_b: Subscription
) -> None:
    ds = await _publish_many(storage, sub, 40) + await _publish_many(storage, sub_b, 40)

    seen = await _drain([storage], limit=7)

    assert set(seen) == {d.id for d in ds}
    assert max(seen.values()) == 1
    assert await storage.count_deliveries() == {"delivering": 80}


@pytest.mark.needs_database
async def test_two_storages_never_claim_the_same_delivery(
    storage: Storage, sub: Subscription
) -> None:
    """Two workers, each with its own engine and connections, on one database."""
    ds = await _publish_many(storage, sub, 120)
    other = open_storage(storage.url)
    try:
        seen = await _drain([storage, other], limit=9)
    finally:
        await other.close()

    assert set(seen) == {d.id for d in ds}
    assert max(seen.values()) == 1


# -- release ---------------------------------------------------------------------------------
async def test_release_gives_deliveries_back_due_now(storage: Storage, sub: Subscription) -> None:
    await _publish_many(storage, sub, 3)
    claimed = await storage.claim_due(NOW_MS, 3, LEASE_MS)
    token = claimed[0].lease_token
    give_back, keep = [c.delivery for c in claimed[:2]], claimed[2].delivery

    await storage.release([d.id for d in give_back], "not-the-token", NOW_MS + 5)
    for d in give_back:
        assert (await reload(storage, d)).state == "delivering"

    await storage.release([], token, NOW_MS + 5)
    await storage.release([d.id for d in give_back], token, NOW_MS + 5)
    for d in give_back:
        assert await reload(storage, d) == dataclasses.replace(
            d, state="pending", next_attempt_at_ms=NOW_MS + 5, updated_at_ms=NOW_MS + 5
        )
    assert await reload(storage, keep) == keep
    assert await storage.next_due_ms() == NOW_MS + 5

    again = await storage.claim_due(NOW_MS + 5, 10, LEASE_MS)
    assert _ids(again) == {d.id for d in give_back}


# -- requeue ---------------------------------------------------------------------------------
async def test_requeue_failed_since_a_time(
    storage: Storage, org: Organization, sub: Subscription, sub_b: Subscription
) -> None:
    _, [old] = await publish(storage, [sub], at=NOW_MS - 20 * SECOND_MS)
    _, [recent, other_sub] = await publish(storage, [sub, sub_b], at=NOW_MS - 5 * SECOND_MS)
    _, [delivered] = await publish(storage, [sub], at=NOW_MS - 4 * SECOND_MS)
    # one attempt each: the delivered one succeeds, the others fail for good
    claimed = await storage.claim_due(NOW_MS, 10, LEASE_MS)
    assert len(claimed) == 4
    outcomes = [
        make_outcome(
            c,
            at=NOW_MS + 1,
            state="succeeded" if c.delivery.id == delivered.id else "failed",
            status=200 if c.delivery.id == delivered.id else 500,
        )
        for c in claimed
    ]
    assert (await storage.record_outcomes(outcomes)).changed == 4
    failed_recent = await reload(storage, recent)
    assert (failed_recent.state, failed_recent.attempts) == ("failed", 1)

    at = NOW_MS + 60 * SECOND_MS
    assert await storage.requeue_failed(OTHER_ORG_ID, sub.id, NOW_MS - 10 * SECOND_MS, at) == 0
    assert await storage.requeue_failed(org.id, sub.id, NOW_MS - 10 * SECOND_MS, at) == 1

    assert await reload(storage, recent) == dataclasses.replace(
        failed_recent,
        state="pending",
        attempts=0,
        first_attempt_at_ms=None,
        next_attempt_at_ms=at,
        updated_at_ms=at,
    )
    assert (await reload(storage, old)).state == "failed"
    assert (await reload(storage, other_sub)).state == "failed"
    assert (await reload(storage, delivered)).state == "succeeded"
    assert await storage.next_due_ms() == at
    assert _ids(await storage.claim_due(at, 10, LEASE_MS)) == {recent.id}

    # nothing failed is left since then; an earlier "since" finds the old one
    assert await storage.requeue_failed(org.id, sub.id, NOW_MS - 10 * SECOND_MS, at) == 0
    assert await storage.requeue_failed(org.id, sub.id, NOW_MS - 20 * SECOND_MS, at) == 1


# -- due times and counts --------------------------------------------------------------------
async def test_next_due_ms(storage: Storage, sub: Subscription) -> None:
    assert await storage.next_due_ms() is None
    _, [a] = await publish(storage, [sub], due_ms=NOW_MS + 7 * SECOND_MS)
    assert await storage.next_due_ms() == NOW_MS + 7 * SECOND_MS
    _, [b] = await publish(storage, [sub], due_ms=NOW_MS + 3 * SECOND_MS)
    assert await storage.next_due_ms() == NOW_MS + 3 * SECOND_MS

    # a leased delivery falls due again when its lease expires
    [c] = await storage.claim_due(NOW_MS + 3 * SECOND_MS, 1, 1 * SECOND_MS)
    assert c.delivery.id == b.id
    assert await storage.next_due_ms() == NOW_MS + 4 * SECOND_MS

    await storage.record_outcomes(
        [make_outcome(c, at=NOW_MS + 3 * SECOND_MS, state="succeeded", status=204)]
    )
    assert await storage.next_due_ms() == NOW_MS + 7 * SECOND_MS
    assert await storage.delete_subscription(sub.organization_id, sub.id, NOW_MS + 8)
    assert await storage.next_due_ms() is None
    assert (await reload(storage, a)).state == "cancelled"


async def test_a_claim_since_a_time_takes_only_what_fell_due_after_it(
    storage: Storage, sub: Subscription
) -> None:
    _, [old] = await publish(storage, [sub], due_ms=NOW_MS - 5 * SECOND_MS)
    _, [new] = await publish(storage, [sub], due_ms=NOW_MS)
    after = NOW_MS - SECOND_MS
    [c] = await storage.claim_due(NOW_MS, 10, 30 * SECOND_MS, after_ms=after)
    assert c.delivery.id == new.id
    assert await storage.claim_due(NOW_MS, 10, 30 * SECOND_MS, after_ms=after) == []
    [c] = await storage.claim_due(NOW_MS, 10, 30 * SECOND_MS)
    assert c.delivery.id == old.id


async def test_next_due_ms_after_a_time(storage: Storage, sub: Subscription) -> None:
    """What falls due after a time: a worker that has just claimed all it might of what was
    due asks only for that, so a backlog its claim left out is not stepped over again."""
    await publish(storage, [sub], due_ms=NOW_MS)
    await publish(storage, [sub], due_ms=NOW_MS + 3 * SECOND_MS)
    await publish(storage, [sub], due_ms=NOW_MS + 7 * SECOND_MS)
    assert await storage.next_due_ms(after_ms=NOW_MS - 1) == NOW_MS
    assert await storage.next_due_ms(after_ms=NOW_MS) == NOW_MS + 3 * SECOND_MS
    assert await storage.next_due_ms((), NOW_MS + 3 * SECOND_MS) == NOW_MS + 7 * SECOND_MS
    assert await storage.next_due_ms([sub.id], NOW_MS) is None
    assert await storage.next_due_ms(after_ms=NOW_MS + 7 * SECOND_MS) is None


async def test_count_deliveries_by_state_and_organization(
    storage: Storage, org: Organization, sub: Subscription
) -> None:
    await add_organization(storage, make_org(OTHER_ORG_ID))
    theirs = await add_subscription(storage, make_subscription(OTHER_ORG_ID))
    assert await storage.count_deliveries() == {}

    await _publish_many(storage, sub, 4)
    await _publish_many(storage, theirs, 2, due_ms=NOW_MS + SECOND_MS)
    claimed = await storage.claim_due(NOW_MS, 3, LEASE_MS)
    await storage.record_outcomes(
        [
            make_outcome(claimed[0], at=NOW_MS, state="succeeded", status=200),
            make_outcome(claimed[1], at=NOW_MS, state="failed", status=400),
        ]
    )

    assert await storage.count_deliveries(org.id) == {
        "pending": 1,
        "delivering": 1,
        "succeeded": 1,
        "failed": 1,
    }
    assert await storage.count_deliveries(OTHER_ORG_ID) == {"pending": 2}
    assert await storage.count_deliveries() == {
        "pending": 3,
        "delivering": 1,
        "succeeded": 1,
        "failed": 1,
    }
    assert await storage.count_deliveries("org_missing") == {}


# -- publishes written leased (the handoff to a worker of the same process) -----------------
def _lease(*subs: Subscription) -> Lease:
    return Lease(
        token="lease-1", until_ms=NOW_MS + LEASE_MS, subscription_ids=frozenset(s.id for s in subs)
    )


async def test_a_leased_publish_comes_back_claimed_and_is_not_claimable(
    storage: Storage, org: Organization, sub: Subscription, sub_b: Subscription
) -> None:
    await storage.update_subscription(
        org.id, sub.id, {}, NOW_MS, SubscriptionSecrets(secret_enc="enc:s", auth_token_enc="enc:t")
    )
    ev = make_event(org.id)
    mine, theirs = make_delivery(ev, sub), make_delivery(ev, sub_b)

    [published] = await storage.insert_events_with_deliveries(
        [NewDeliveries(event=ev, deliveries=[mine, theirs], lease=_lease(sub))]
    )

    assert published.created and published.deliveries == 2
    [handed] = published.leased
    assert handed.delivery.id == mine.id
    assert handed.delivery.state == "delivering"
    assert handed.delivery.next_attempt_at_ms == NOW_MS + LEASE_MS
    assert handed.lease_token == "lease-1"
    assert handed.event == ev
    assert handed.subscription.id == sub.id
    assert handed.secret_ciphertexts == ("enc:s",)
    assert handed.auth_token_ciphertext == "enc:t"
    # only the delivery that was not handed over is left for the claims
    assert _ids(await storage.claim_due(NOW_MS, 10, LEASE_MS)) == {theirs.id}
    assert await storage.count_deliveries(org.id) == {"delivering": 2}


async def test_a_leased_delivery_is_claimable_once_its_lease_lapses(
    storage: Storage, org: Organization, sub: Subscription
) -> None:
    ev = make_event(org.id)
    d = make_delivery(ev, sub)
    await storage.insert_events_with_deliveries(
        [NewDeliveries(event=ev, deliveries=[d], lease=_lease(sub))]
    )
    assert await storage.claim_due(NOW_MS + LEASE_MS - 1, 10, LEASE_MS) == []
    [again] = await storage.claim_due(NOW_MS + LEASE_MS, 10, LEASE_MS)
    assert again.delivery.id == d.id and again.lease_token != "lease-1"


async def test_a_leased_delivery_records_its_outcome_under_the_lease(
    storage: Storage, org: Organization, sub: Subscription
) -> None:
    ev = make_event(org.id)
    [published] = await storage.insert_events_with_deliveries(
        [NewDeliveries(event=ev, deliveries=[make_delivery(ev, sub)], lease=_lease(sub))]
    )
    [handed] = published.leased
    recorded = await storage.record_outcomes(
        [make_outcome(handed, at=NOW_MS + 1, state="succeeded", status=200)]
    )
    assert recorded.changed == 1
    assert await storage.count_deliveries(org.id) == {"succeeded": 1}


async def test_a_repeated_event_hands_nothing_over(
    storage: Storage, org: Organization, sub: Subscription
) -> None:
    ev = make_event(org.id)
    await storage.insert_events_with_deliveries(
        [NewDeliveries(event=ev, deliveries=[make_delivery(ev, sub)])]
    )
    [again] = await storage.insert_events_with_deliveries(
        [NewDeliveries(event=ev, deliveries=[make_delivery(ev, sub)], lease=_lease(sub))]
    )
    assert not again.created and again.leased == ()
    assert await storage.count_deliveries(org.id) == {"pending": 1}


async def test_leased_inkbox_deliveries_carry_the_owners_signing_key(
    storage: Storage, org: Organization
) -> None:
    await storage.put_signing_key(org.id, None, "enc:org", NOW_MS, only_if_missing=False)
    inkbox = await add_subscription(storage, make_subscription(org.id, profile="inkbox"))
    ev = make_event(org.id)
    [published] = await storage.insert_events_with_deliveries(
        [NewDeliveries(event=ev, deliveries=[make_delivery(ev, inkbox)], lease=_lease(inkbox))]
    )
    [handed] = published.leased
    assert handed.secret_ciphertexts == ("enc:org",)


async def test_a_delivery_routed_to_a_subscription_gone_meanwhile_is_settled_not_handed_over(
    storage: Storage, org: Organization, sub: Subscription, sub_b: Subscription
) -> None:
    # routing ran from memory just before these changes were committed
    await storage.update_subscription(
        org.id, sub.id, {"enabled": False, "disabled_reason": "410 Gone"}, NOW_MS
    )
    assert await storage.delete_subscription(org.id, sub_b.id, NOW_MS)
    ev = make_event(org.id)
    off, deleted = make_delivery(ev, sub), make_delivery(ev, sub_b)

    [published] = await storage.insert_events_with_deliveries(
        [NewDeliveries(event=ev, deliveries=[off, deleted], lease=_lease(sub, sub_b))]
    )

    assert published.created and published.leased == ()
    states = {
        d.id: (d.state, d.last_error) for d in [await reload(storage, x) for x in (off, deleted)]
    }
    assert states == {
        off.id: ("held", "410 Gone"),
        deleted.id: ("cancelled", "subscription deleted"),
    }
    assert await storage.claim_due(NOW_MS + LEASE_MS, 10, LEASE_MS) == []


@pytest.mark.needs_database
async def test_a_fan_out_routed_from_memory_is_handed_over_as_each_subscription_is_stored(
    storage: Storage, org: Organization
) -> None:
    """The handoff may take a subscription from the routing cache rather than decode its row
    (SQLite's, whose cache is exact): only while the row is that version. Here another
    storage on the same database (another process) changes one behind the cache's back,
    and disables another: the first is handed over as stored now, the second settled."""
    subs = [
        await add_subscription(storage, make_subscription(org.id, url=f"https://{i}.example.com"))
        for i in range(3)
    ]
    routed = await storage.routing_candidates(
        org.id, mailbox_id=None, phone_number_id=None, identity_id=None
    )
    assert {s.id for s in routed} == {s.id for s in subs}  # now cached, where a cache is kept
    other = open_storage(storage.url)
    try:
        await other.update_subscription(
            org.id, subs[0].id, {"url": "https://moved.example.com"}, NOW_MS + 1
        )
        await other.update_subscription(
            org.id, subs[1].id, {"enabled": False, "disabled_reason": "by hand"}, NOW_MS + 1
        )
    finally:
        await other.close()
    ev = make_event(org.id)
    ds = [make_delivery(ev, s) for s in subs]

    [published] = await storage.insert_events_with_deliveries(
        [NewDeliveries(event=ev, deliveries=ds, lease=_lease(*subs))]
    )

    handed = {c.subscription.id: c for c in published.leased}
    assert set(handed) == {subs[0].id, subs[2].id}
    assert handed[subs[0].id].subscription.url == "https://moved.example.com"
    assert handed[subs[0].id].subscription.updated_at_ms == NOW_MS + 1
    assert handed[subs[2].id].subscription == subs[2]
    assert (await reload(storage, ds[1])).state == "held"


async def test_a_fan_out_hands_over_deliveries_made_leased_without_remaking_them(
    storage: Storage, org: Organization, sub: Subscription, sub_b: Subscription
) -> None:
    """The publish may make a delivery it hands over in its leased state already; one made
    pending is leased by the storage. Either way the stored row and the handed-over delivery
    are the leased ones."""
    ev = make_event(org.id)
    lease = _lease(sub, sub_b)
    made_leased = dataclasses.replace(
        make_delivery(ev, sub), state="delivering", next_attempt_at_ms=lease.until_ms
    )
    made_pending = make_delivery(ev, sub_b)

    [published] = await storage.insert_events_with_deliveries(
        [NewDeliveries(event=ev, deliveries=[made_leased, made_pending], lease=lease)]
    )

    by_id = {c.delivery.id: c.delivery for c in published.leased}
    for d in (made_leased, made_pending):
        assert by_id[d.id].state == "delivering"
        assert by_id[d.id].next_attempt_at_ms == lease.until_ms
        stored = await reload(storage, d)
        assert (stored.state, stored.next_attempt_at_ms) == ("delivering", lease.until_ms)
