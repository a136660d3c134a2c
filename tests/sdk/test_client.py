"""``hookline_sdk.Client`` against a real running ``hookline serve``."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

import hookline_sdk
from hookline_sdk import (
    AuthenticationError,
    Client,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    UnprocessableEntityError,
)

from .conftest import ADMIN_KEY, Receiver, Server


def _handle(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def _attempts(client: Client, subscription_id: str, n: int) -> list[hookline_sdk.Attempt]:
    """The subscription's logged attempts once there are ``n`` of them."""
    deadline = datetime.now(UTC) + timedelta(seconds=15)
    while datetime.now(UTC) < deadline:
        found = list(client.list_deliveries(subscription_id=subscription_id))
        if len(found) >= n:
            return found
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} attempts logged for {subscription_id}")


def test_subscription_lifecycle(client: Client, receiver: Receiver) -> None:
    ident = client.create_identity(_handle("life"))
    created = client.create_subscription(
        receiver.url("/life"),
        ["message.delivered", "message.bounced"],
        agent_identity_id=ident.id,
        name="life",
        headers={"X-Team": "mail"},
    )
    assert isinstance(created, hookline_sdk.CreatedSubscription)
    assert created.secret and created.secret.startswith("whsec_")
    assert created.event_types == ("message.delivered", "message.bounced")
    # header values are secrets: read back masked
    assert created.headers == {"X-Team": "••••••••"} and created.profile == "standard"

    got = client.get_subscription(created.id)
    assert got.id == created.id and got.url == receiver.url("/life") and got.name == "life"
    assert got.raw["id"] == created.id

    listed = client.list_subscriptions(agent_identity_id=ident.id)
    assert [s.id for s in listed] == [created.id]
    assert [s.id for s in client.iter_subscriptions(agent_identity_id=ident.id)] == [created.id]

    updated = client.update_subscription(
        created.id, event_types=["message.bounced"], description="changed", name=None
    )
    assert updated.event_types == ("message.bounced",)
    assert updated.description == "changed" and updated.name is None
    assert client.get_subscription_secret(created.id) == created.secret
    rotated = client.rotate_subscription_secret(created.id, grace_period_s=60)
    assert rotated != created.secret and client.get_subscription_secret(created.id) == rotated

    client.delete_subscription(created.id)
    with pytest.raises(NotFoundError) as gone:
        client.get_subscription(created.id)
    assert gone.value.status_code == 404 and created.id in str(gone.value.detail)
    assert list(client.iter_subscriptions(agent_identity_id=ident.id)) == []


def test_paged_lists_iterate_over_every_page(client: Client) -> None:
    prefix = _handle("page")
    made = {client.create_identity(f"{prefix}-{i}").id for i in range(7)}
    seen = {i.id for i in client.iter_identities(page_size=2)}
    assert made <= seen
    first = client.list_identities(limit=2)
    assert len(first) == 2 and first.has_more is True
    second = client.list_identities(limit=2, offset=2)
    assert {i.id for i in first}.isdisjoint({i.id for i in second})


def test_publish_batch_read_the_log_and_replay(
    client: Client, receiver: Receiver, live: Server
) -> None:
    handle = _handle("log")
    ident = client.create_identity(handle)
    sub = client.create_subscription(
        receiver.url("/log"), ["message.delivered"], agent_identity_id=ident.id
    )
    one = client.publish_event(
        "message.delivered", {"message_id": "m0"}, agent_handle=handle, id=f"evt_{handle}_0"
    )
    assert one.id == f"evt_{handle}_0" and one.deliveries == 1 and not one.duplicate
    again = client.publish_event(
        "message.delivered", {"message_id": "m0"}, agent_handle=handle, id=one.id
    )
    assert again.duplicate and again.id == one.id
    with pytest.raises(hookline_sdk.ConflictError):  # the same id with other data
        client.publish_event("message.delivered", {}, agent_handle=handle, id=one.id)

    events: list[hookline_sdk.NewEvent] = [
        {"type": "message.delivered", "agent_handle": handle, "data": {"message_id": f"m{i}"}}
        for i in range(1, 5)
    ]
    published = client.publish_events_batch(events)
    assert len(published) == 4 and all(p.deliveries == 1 for p in published)

    attempts = _attempts(client, sub.id, 5)
    assert {a.event_id for a in attempts} == {one.id, *(p.id for p in published)}
    assert all(a.success and a.response_status == 200 for a in attempts)
    paged = list(client.iter_deliveries(subscription_id=sub.id, page_size=2))
    assert [a.id for a in paged] == [a.id for a in attempts]

    event = client.get_event(one.id)
    assert event.type == "message.delivered" and event.data == {"message_id": "m0"}
    fate = client.get_event_deliveries(one.id)
    assert fate.event.id == one.id and len(fate.deliveries) == 1
    assert fate.deliveries[0].state == "succeeded" and fate.attempts[0].success

    replayed = client.replay_delivery(attempts[0].id)
    assert replayed.is_replay and replayed.event_id == attempts[0].event_id
    tested = client.test_subscription(sub.id, "message.delivered")
    assert tested.success and tested.response_status == 200
    since = datetime.now(UTC) - timedelta(hours=1)
    assert client.recover_subscription(sub.id, since) == 0

    # a bulk replay of the five, in the background: each arrives again with its event id
    task = client.replay_subscription(sub.id, since, "succeeded", event_types=["message.delivered"])
    assert isinstance(task, hookline_sdk.Task) and task.progress["total"] == 5
    deadline = time.monotonic() + 30
    while not task.finished:
        assert time.monotonic() < deadline, task
        time.sleep(0.05)
        task = client.get_task(task.id)
    assert task.state == "succeeded" and task.result == {"requeued": 5, "skipped": 0}
    assert [t.id for t in client.list_tasks(subscription_id=sub.id)] == [task.id]
    with pytest.raises(UnprocessableEntityError):
        client.replay_subscription(sub.id, since, "pending")

    # the subscription stops taking the type: replaying its attempt is a conflict
    client.update_subscription(sub.id, event_types=["message.bounced"])
    with pytest.raises(ConflictError) as conflict:
        client.replay_delivery(attempts[0].id)
    assert "message.delivered" in str(conflict.value.detail)


def test_batches_are_split_at_the_servers_limits(live: Server) -> None:
    requests: list[httpx.Request] = []
    http = httpx.Client(
        base_url=live.base,
        headers={"X-API-Key": ADMIN_KEY},
        event_hooks={"request": [requests.append]},
        timeout=30,
    )
    with Client(http_client=http) as client:
        many: list[hookline_sdk.NewEvent] = [
            {"type": "message.delivered", "data": {"i": i}}
            for i in range(hookline_sdk.MAX_BATCH_EVENTS + 5)
        ]
        published = client.publish_events_batch(many)
        assert len(published) == len(many) and len({p.id for p in published}) == len(many)
        assert len(requests) == 2, "1,000 events, then 5"

    requests.clear()
    http = httpx.Client(
        base_url=live.base,
        headers={"X-API-Key": ADMIN_KEY},
        event_hooks={"request": [requests.append]},
        timeout=30,
    )
    with Client(http_client=http, max_body_bytes=4096) as client:
        big: list[hookline_sdk.NewEvent] = [
            {"type": "message.delivered", "data": {"pad": "x" * 1000}} for _ in range(10)
        ]
        assert len(client.publish_events_batch(big)) == 10
        assert len(requests) >= 3
        assert all(len(r.content) <= 4096 for r in requests)


def test_owners_keys_and_catalog(client: Client, live: Server) -> None:
    handle = _handle("own")
    ident = client.create_identity(handle)
    assert client.get_identity(handle).id == ident.id
    address = f"{handle}@example.com"
    box = client.create_mailbox(address, agent_handle=handle)
    assert box.agent_identity_id == ident.id and box.webhook_url is None
    assert not client.get_identity_signing_key_status(handle).configured
    assert client.get_mailbox(address).id == box.id
    hooked = client.update_mailbox(address, "http://127.0.0.1:9/box")
    assert hooked.webhook_url == "http://127.0.0.1:9/box"
    # the mailbox's webhook is signed with its owner's key, which setting the URL minted
    assert client.get_identity_signing_key_status(handle).configured
    assert client.update_mailbox(address, None).webhook_url is None
    assert box.id in {b.id for b in client.iter_mailboxes()}
    assert box.id in {b.id for b in client.list_mailboxes(limit=1000)}

    number = client.create_phone_number("+1555" + str(secrets.randbelow(10**7)).zfill(7), handle)
    assert client.get_phone_number(number.id).number == number.number
    changed = client.update_phone_number(number.id, incoming_call_action="auto_reject")
    assert changed.incoming_call_action == "auto_reject"
    assert number.id in {n.id for n in client.iter_phone_numbers()}
    assert number.id in {n.id for n in client.list_phone_numbers(limit=1000)}
    answer = client.incoming_call(number.id, {"from": "+15550001111"})
    assert answer["source"] == "fallback"

    key = client.create_api_key("agent", agent_handle=handle, name="sdk")
    assert key.key and key.scope == "agent" and key.agent_identity_id == ident.id
    assert key.id in {k.id for k in client.list_api_keys()}
    with Client(live.base, api_key=key.key) as agent:
        assert [i.id for i in agent.list_identities()] == [ident.id]
        other = client.create_identity(_handle("other"))
        with pytest.raises(PermissionDeniedError) as denied:
            agent.create_subscription(
                "http://127.0.0.1:9/x", ["message.delivered"], agent_identity_id=other.id
            )
        assert denied.value.status_code == 403
    client.revoke_api_key(key.id)
    with Client(live.base, api_key=key.key) as revoked, pytest.raises(AuthenticationError):
        revoked.list_identities()

    minted = client.rotate_identity_signing_key(handle)
    assert minted.signing_key and client.get_identity_signing_key_status(handle).configured
    org = client.rotate_organization_signing_key()
    assert org.signing_key and client.get_organization_signing_key_status().configured

    catalog = client.get_catalog()
    assert "message.delivered" in {t.type for t in catalog}

    client.delete_identity(other.agent_handle)
    with pytest.raises(NotFoundError):
        client.get_identity(other.agent_handle)


def test_errors_carry_the_servers_detail_and_fields(client: Client, live: Server) -> None:
    with pytest.raises(UnprocessableEntityError) as invalid:
        client.create_subscription("http://127.0.0.1:9/x", [])
    assert invalid.value.status_code == 422
    assert any(e.field == "event_types" for e in invalid.value.errors), invalid.value.errors
    assert "event_types" in str(invalid.value.detail)

    with pytest.raises(UnprocessableEntityError) as unknown:
        client.publish_event("no.such.type", {})
    assert unknown.value.errors and unknown.value.errors[0].field == "type"

    with pytest.raises(PayloadTooLargeError) as big:
        client.publish_event("message.delivered", {"pad": "x" * 1_100_000})
    assert big.value.status_code == 413 and "larger" in str(big.value.detail)

    with Client(live.base, api_key="hl_wrong") as stranger, pytest.raises(AuthenticationError):
        stranger.get_catalog()
    with pytest.raises(NotFoundError):
        client.get_event("evt_does_not_exist")
    assert issubclass(NotFoundError, hookline_sdk.APIStatusError)


def test_the_sdks_batch_limits_are_the_servers() -> None:
    """The SDK cannot import the server, so it states the limits itself; this keeps them equal."""
    from hookline.config import Settings
    from hookline.services import publishing

    assert hookline_sdk.MAX_BATCH_EVENTS == publishing.MAX_BATCH
    server_default = Settings.model_fields["max_body_bytes"].default
    assert server_default == hookline_sdk.operations.DEFAULT_MAX_BODY_BYTES
