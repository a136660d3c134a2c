"""All four wire profiles, received and verified the way each product's receivers do."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook

from conftest import Receiver, Server


@pytest.fixture
def server(tidy_shared_server: Server) -> Server:
    """One server per database for the module: each test's events have ids of its own, it counts
    only what its own receiver heard, and its subscriptions are deleted when it ends."""
    return tidy_shared_server


INKBOX_TOLERANCE_S = 300


def verify_hmac(raw_body: bytes, signature_header: str, secret: str) -> bool:
    """Inboxroad's documented Python verifier, verbatim."""
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
    try:
        provided = base64.b64decode(signature_header or "", validate=True)
    except Exception:
        return False
    return hmac.compare_digest(expected, provided)


def verify_inbox(raw_body: bytes, header: str, secret: str) -> bool:
    """The Inbox docs' verifySignature: sha256=<hex HMAC of the raw body>."""
    expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def verify_inkbox(raw_body: bytes, headers: dict[str, str], signing_key: str) -> bool:
    """Inkbox's documented steps: timestamp within 300 s, HMAC over id.ts.body, hex."""
    ts = headers["X-Inkbox-Timestamp"]
    if abs(time.time() - int(ts)) > INKBOX_TOLERANCE_S:
        return False
    message = f"{headers['X-Inkbox-Request-ID']}.{ts}.".encode() + raw_body
    key = signing_key.removeprefix("whsec_").encode()
    expected = hmac.new(key, message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Inkbox-Signature"].removeprefix("sha256="))


def test_every_profile_on_the_wire(server: Server, receiver: Receiver) -> None:
    ident = server.api("POST", "/identities", json={"agent_handle": "wire"}).json()
    subs = {}
    for profile in ("standard", "inkbox", "inbox", "inboxroad"):
        body = {
            "url": receiver.url(f"/{profile}"),
            "event_types": ["message.bounced"],
            "profile": profile,
            "agent_identity_id": ident["id"],
        }
        resp = server.api("POST", "/webhooks/subscriptions", json=body)
        assert resp.status_code == 201, resp.text
        subs[profile] = resp.json()
    assert subs["inkbox"]["signing_key"], "the first inkbox subscription mints the identity's key"
    assert subs["inkbox"]["secret"] is None
    for p in ("standard", "inbox", "inboxroad"):
        assert subs[p]["secret"] and subs[p]["signing_key"] is None
    second = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={
            "url": receiver.url("/inkbox2"),
            "event_types": ["message.bounced"],
            "profile": "inkbox",
            "agent_identity_id": ident["id"],
        },
    ).json()
    assert second["signing_key"] is None, "the key is shown once, when minted"

    data = {
        "message_id": "<m1@example.com>",
        "recipient": "usér@example.com",
        "dsn_status": "5.1.1",
    }
    resp = server.api(
        "POST", "/events",
        json={"id": "evt_wire", "type": "message.bounced", "agent_handle": "wire", "data": data,
              "occurred_at": "2025-09-04T10:00:00Z"},
    )  # fmt: skip
    assert resp.json()["deliveries"] == 5
    receiver.wait_for(lambda rs: len(rs) >= 5)
    by_path = {r.path: r for r in receiver.requests}

    std = by_path["/standard"]
    assert Webhook(subs["standard"]["secret"]).verify(std.body, std.headers)["data"] == data
    assert list(json.loads(std.body)) == ["id", "type", "timestamp", "data"]

    ink = by_path["/inkbox"]
    assert verify_inkbox(ink.body, ink.headers, subs["inkbox"]["signing_key"])
    assert not verify_inkbox(ink.body, ink.headers, "whsec_wrong")
    ts = "2025-09-04T10:00:00Z"
    assert json.loads(ink.body) == {
        "id": "evt_wire", "event_type": "message.bounced", "timestamp": ts, "data": data,
    }  # fmt: skip
    assert ink.headers["X-Inkbox-Request-ID"] != by_path["/inkbox2"].headers["X-Inkbox-Request-ID"]

    inbox = by_path["/inbox"]
    assert verify_inbox(inbox.body, inbox.headers["X-Inbox-Signature"], subs["inbox"]["secret"])
    assert json.loads(inbox.body) == {
        "id": "evt_wire", "type": "message.bounced", "created_at": ts, "data": data,
    }  # fmt: skip

    road = by_path["/inboxroad"]
    assert verify_hmac(road.body, road.headers["X-Signature"], subs["inboxroad"]["secret"])
    assert not verify_hmac(road.body, road.headers["X-Signature"], "other")
    assert json.loads(road.body) == {
        "kind": "bounce", "message_id": "<m1@example.com>", "recipient": "usér@example.com",
        "dsn_status": "5.1.1", "timestamp": "2025-09-04T10:00:00Z",
    }  # fmt: skip
    for r in receiver.requests:
        assert r.headers["Content-Type"] == "application/json"


def test_inkbox_request_id_is_new_on_every_retry(server: Server, receiver: Receiver) -> None:
    receiver.plan("/ink-retry", [500, 200])
    resp = server.api(
        "POST", "/webhooks/subscriptions",
        json={"url": receiver.url("/ink-retry"), "event_types": ["message.sent"],
              "profile": "inkbox", "retry_schedule": [0, 1]},
    )  # fmt: skip
    key = resp.json()["signing_key"]
    assert key, "an organization-wide inkbox subscription mints the organization's key"
    server.api("POST", "/events", json={"id": "evt_ink_retry", "type": "message.sent"})
    first, second = receiver.wait_for(lambda rs: len(rs) >= 2)
    assert first.body == second.body
    assert first.headers["X-Inkbox-Request-ID"] != second.headers["X-Inkbox-Request-ID"]
    assert verify_inkbox(first.body, first.headers, key)
    assert verify_inkbox(second.body, second.headers, key)
