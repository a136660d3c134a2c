"""Deliveries of every profile from a running ``hookline serve``, verified with the SDK; and
the OpenAPI document's every operation under /api/v1 has a client method."""

from __future__ import annotations

import asyncio
import base64
import inspect
import secrets
from datetime import UTC, datetime, timedelta

import httpx
import pytest

import hookline_sdk
from hookline_sdk import AsyncClient, Client, InvalidSignature, verify

from .conftest import ADMIN_KEY, Receiver, Server

WRONG_STANDARD_SECRET = "whsec_" + base64.b64encode(b"w" * 24).decode()


def test_every_profile_delivered_by_the_server_verifies(client: Client, receiver: Receiver) -> None:
    handle = f"wire-{secrets.token_hex(4)}"
    ident = client.create_identity(handle)
    keys: dict[str, str] = {}
    for profile in hookline_sdk.PROFILES:
        sub = client.create_subscription(
            receiver.url(f"/{profile}"),
            ["message.bounced"],
            profile=profile,
            agent_identity_id=ident.id,
        )
        key = sub.signing_key if profile == "inkbox" else sub.secret
        assert key, profile
        keys[profile] = key
    data = {"message_id": "<m1@example.com>", "recipient": "usér@example.com"}
    event = client.publish_event("message.bounced", data, agent_handle=handle)
    assert event.deliveries == 4
    receiver.wait_for(lambda rs: len(rs) >= 4)
    for profile, key in keys.items():
        (got,) = receiver.at(f"/{profile}")
        payload = verify(profile, key, got.body, got.headers)
        if profile == "inboxroad":
            assert payload["kind"] == "bounce" and payload["recipient"] == data["recipient"]
        else:
            assert payload["id"] == event.id and payload["data"] == data
        wrong = WRONG_STANDARD_SECRET if profile == "standard" else key + "x"
        with pytest.raises(InvalidSignature):
            verify(profile, wrong, got.body, got.headers)
        with pytest.raises(InvalidSignature):
            verify(profile, key, got.body.replace(b"example", b"exampla"), got.headers)


def test_during_a_rotation_grace_both_secrets_verify(client: Client, receiver: Receiver) -> None:
    ident = client.create_identity(f"rot-{secrets.token_hex(4)}")
    sub = client.create_subscription(
        receiver.url("/rot"), ["message.delivered"], agent_identity_id=ident.id
    )
    assert sub.secret
    new = client.rotate_subscription_secret(sub.id, grace_period_s=600)
    tested = client.test_subscription(sub.id, "message.delivered")
    assert tested.success
    (got,) = receiver.wait_for(lambda rs: len(rs) >= 1)
    assert len(got.headers["webhook-signature"].split()) == 2
    for secret in (sub.secret, new):
        assert verify("standard", secret, got.body, got.headers)["type"] == "message.delivered"


def test_every_api_operation_has_a_client_method(live: Server) -> None:
    document = httpx.get(f"{live.base}/openapi.json", timeout=10).json()
    operations = {
        op["operationId"]
        for path, methods in document["paths"].items()
        if path.startswith("/api/v1/")
        for op in methods.values()
        if isinstance(op, dict) and "operationId" in op
    }
    assert len(operations) >= 30, "the document lists the API"
    missing = sorted(operations - set(hookline_sdk.OPERATIONS))
    assert not missing, f"operations without a client method: {missing}"
    for operation_id in operations:
        name = hookline_sdk.OPERATIONS[operation_id]
        assert callable(getattr(Client, name, None)), name
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name, None)), name
    stale = sorted(set(hookline_sdk.OPERATIONS) - operations)
    assert not stale, f"client methods of operations the server no longer has: {stale}"


async def test_the_async_client_against_the_server(live: Server, receiver: Receiver) -> None:
    async with AsyncClient(live.base, api_key=ADMIN_KEY) as client:
        handle = f"async-{secrets.token_hex(4)}"
        ident = await client.create_identity(handle)
        sub = await client.create_subscription(
            receiver.url("/async"), ["message.delivered"], agent_identity_id=ident.id
        )
        assert [s.id async for s in client.iter_subscriptions(agent_identity_id=ident.id)] == [
            sub.id
        ]
        updated = await client.update_subscription(sub.id, description="async")
        assert updated.description == "async"
        task = await client.replay_subscription(
            sub.id, datetime.now(UTC) - timedelta(minutes=1), "failed"
        )
        assert (await client.get_task(task.id)).id == task.id
        assert [t.id for t in await client.list_tasks(subscription_id=sub.id)] == [task.id]
        published = await client.publish_events_batch(
            [{"type": "message.delivered", "agent_handle": handle} for _ in range(3)]
        )
        assert len(published) == 3
        one = await client.publish_event("message.delivered", agent_handle=handle)
        assert one.deliveries == 1
        for _ in range(300):
            log = await client.list_deliveries(subscription_id=sub.id)
            if len(log) == 4:
                break
            await asyncio.sleep(0.05)
        assert len(log) == 4 and all(a.success for a in log)
        replayed = await client.replay_delivery(log.items[0].id)
        assert replayed.is_replay
        await client.delete_subscription(sub.id)
        with pytest.raises(hookline_sdk.NotFoundError):
            await client.get_subscription(sub.id)
