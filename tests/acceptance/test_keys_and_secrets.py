"""Signing keys (inkbox profile) and per-subscription secrets with a grace period."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from conftest import Receiver, Server


@pytest.fixture
def server(shared_server: Server) -> Server:
    """One server per database for the module: each test signs for an identity or a
    subscription of its own, and its receiver hears only its own subscription (the identity
    tests' events name their identity; the organization key is minted by one test only)."""
    return shared_server


def inkbox_valid(req: Any, key: str) -> bool:
    ts, rid = req.headers["X-Inkbox-Timestamp"], req.headers["X-Inkbox-Request-ID"]
    msg = f"{rid}.{ts}.".encode() + req.body
    want = hmac.new(key.removeprefix("whsec_").encode(), msg, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + want, req.headers["X-Inkbox-Signature"])


def test_identity_signing_key_routes_and_rotation(server: Server, receiver: Receiver) -> None:
    ident = server.api("POST", "/identities", json={"agent_handle": "signer"}).json()
    status = server.api("GET", "/identities/signer/signing-key")
    assert status.status_code == 200
    assert status.json() == {"configured": False, "created_at": None}

    created = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": receiver.url("/ink"), "event_types": ["message.sent"], "profile": "inkbox",
              "agent_identity_id": ident["id"]},
    )  # fmt: skip
    first_key = created.json()["signing_key"]
    assert first_key
    status = server.api("GET", "/identities/signer/signing-key").json()
    assert status["configured"] is True and status["created_at"].endswith("Z")

    server.api(
        "POST", "/events", json={"id": "evt_k1", "type": "message.sent", "agent_handle": "signer"}
    )
    [one] = receiver.wait_for(lambda rs: len(rs) >= 1)
    assert inkbox_valid(one, first_key)

    rotated = server.api("POST", "/identities/signer/signing-key")
    assert rotated.status_code == 201
    new_key = rotated.json()["signing_key"]
    assert new_key != first_key
    assert "signing_key" not in server.api("GET", "/identities/signer/signing-key").json()

    server.api(
        "POST", "/events", json={"id": "evt_k2", "type": "message.sent", "agent_handle": "signer"}
    )
    _, two = receiver.wait_for(lambda rs: len(rs) >= 2)
    assert inkbox_valid(two, new_key), "rotation takes effect on the next attempt"
    assert not inkbox_valid(two, first_key)


def test_rotation_applies_to_the_retry_of_a_delivery_under_way(
    server: Server, receiver: Receiver
) -> None:
    ident = server.api("POST", "/identities", json={"agent_handle": "mid-rotation"}).json()
    receiver.plan("/retry", [500, 200])
    created = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": receiver.url("/retry"), "event_types": ["message.sent"], "profile": "inkbox",
              "agent_identity_id": ident["id"], "retry_schedule": [0, 2]},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    old_key = created.json()["signing_key"]
    server.api(
        "POST",
        "/events",
        json={"id": "evt_mid", "type": "message.sent", "agent_handle": "mid-rotation"},
    )
    [first] = receiver.wait_for(lambda rs: len(rs) >= 1)
    assert inkbox_valid(first, old_key)
    new_key = server.api("POST", "/identities/mid-rotation/signing-key").json()["signing_key"]
    _, retry = receiver.wait_for(lambda rs: len(rs) >= 2, timeout_s=10)
    assert retry.headers["X-Inkbox-Request-ID"] != first.headers["X-Inkbox-Request-ID"]
    assert inkbox_valid(retry, new_key), "the retry is signed with the key current at its time"
    assert not inkbox_valid(retry, old_key)


def test_organization_signing_key(server: Server) -> None:
    assert server.api("GET", "/signing-keys").json() == {"configured": False, "created_at": None}
    made = server.api("POST", "/signing-keys")
    assert made.status_code == 201
    assert made.json()["signing_key"].startswith("whsec_")
    assert server.api("GET", "/signing-keys").json()["configured"] is True
    assert server.api("GET", "/identities/nobody/signing-key").status_code == 404


def test_secret_read_again_and_rotated_with_grace(server: Server, receiver: Receiver) -> None:
    sub = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": receiver.url("/std"), "event_types": ["message.sent"]},
    ).json()
    read = server.api("GET", f"/webhooks/subscriptions/{sub['id']}/secret")
    assert read.status_code == 200
    assert read.json() == {"secret": sub["secret"]}

    rotated = server.api(
        "POST", f"/webhooks/subscriptions/{sub['id']}/secret/rotate", json={"grace_period_s": 3600}
    )
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new != sub["secret"] and new.startswith("whsec_")
    assert server.api("GET", f"/webhooks/subscriptions/{sub['id']}/secret").json() == {
        "secret": new
    }

    server.api("POST", "/events", json={"id": "evt_grace", "type": "message.sent"})
    [req] = receiver.wait_for(lambda rs: len(rs) >= 1)
    signatures = req.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2, "during the grace period both secrets sign"
    # receivers holding either secret accept the delivery
    assert Webhook(new).verify(req.body, req.headers)["id"] == "evt_grace"
    assert Webhook(sub["secret"]).verify(req.body, req.headers)["id"] == "evt_grace"

    no_grace = server.api("POST", f"/webhooks/subscriptions/{sub['id']}/secret/rotate")
    newest = no_grace.json()["secret"]
    server.api("POST", "/events", json={"id": "evt_nograce", "type": "message.sent"})
    _, req2 = receiver.wait_for(lambda rs: len(rs) >= 2)
    assert len(req2.headers["webhook-signature"].split(" ")) == 1
    assert Webhook(newest).verify(req2.body, req2.headers)["id"] == "evt_nograce"

    bad = server.api(
        "POST", f"/webhooks/subscriptions/{sub['id']}/secret/rotate", json={"grace_period_s": -1}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "grace_period_s"
