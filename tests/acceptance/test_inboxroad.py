"""Inboxroad behaviour: named webhooks, enabled on creation, disable/enable, sending-domain
filter, custom headers, the secret read again, flat ``kind`` payloads verified by the docs'
Python ``verify_hmac``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from conftest import Receiver, Server

CAMPAIGN = {"id": "9d76d4b4-660f-422b-9437-282c31506f7f", "name": "September campaign"}
#: the docs' example payloads, without kind and timestamp: (event type, kind, data)
EXAMPLES: list[tuple[str, str, dict[str, Any]]] = [
    ("message.delivered", "delivered", {
        "sender": "sender@example.com", "recipient": "user@example.com",
        "message_id": "<335026fa-0b4d-4fb3-a92c-8193ac2636b8@example.com>", "campaign": CAMPAIGN,
    }),
    ("message.opened", "open", {
        "sender": "user@sender.com", "recipient": "user@example.com",
        "message_id": "48b6240d-cd8b-4d45-b4cb-684f99032103", "campaign": CAMPAIGN,
    }),
    ("message.clicked", "click", {
        "sender": "user@sender.com", "recipient": "user@example.com", "url": "https://someurl.com",
        "message_id": "48b6240d-cd8b-4d45-b4cb-684f99032103", "campaign": CAMPAIGN,
    }),
    ("message.bounced", "bounce", {
        "sync_type": "async", "sender": "sender@example.com", "recipient": "user@example.com",
        "dsn_status": "4.4.7 (delivery time expired)", "bounce_category": "message-expired",
        "bounce_type": "expired", "message_id": "<b1@example.com>",
    }),
    ("subscription.changed", "subscription_changed", {
        "change": "unsubscribe", "sender": "user@sender.com", "recipient": "user@example.com",
        "message_id": "59d619ca-d402-4865-a333-d5a5c5cdb30c", "campaign": CAMPAIGN,
        "contact_list": {"id": "59d619ca-d402-4865-a333-d5a5c5cdb30c", "name": "Main List"},
    }),
]  # fmt: skip
ALL_TYPES = [t for t, _, _ in EXAMPLES]
OCCURRED = "2025-09-04T10:00:00Z"


@pytest.fixture
def server(tidy_shared_server: Server) -> Server:
    """The module's server: a test's subscriptions are deleted when it ends, so each
    publish reaches only the subscriptions of the test that made it."""
    return tidy_shared_server


def verify_hmac(raw_body: bytes, signature_header: str, secret: str) -> bool:
    """Inboxroad's documented Python verifier, verbatim."""
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
    try:
        provided = base64.b64decode(signature_header or "", validate=True)
    except Exception:
        return False
    return hmac.compare_digest(expected, provided)


def create(server: Server, receiver: Receiver, path: str, **extra: Any) -> dict[str, Any]:
    body = {
        "url": receiver.url(path),
        "event_types": ALL_TYPES,
        "profile": "inboxroad",
        "name": "CRM Updates",
        "description": "email events to the CRM",
        "headers": {"X-Api-Key": "abc"},
        **extra,
    }
    resp = server.api("POST", "/webhooks/subscriptions", json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def publish(server: Server, event_id: str, type_: str, data: dict[str, Any], **extra: Any) -> int:
    body = {"id": event_id, "type": type_, "data": data, "occurred_at": OCCURRED, **extra}
    resp = server.api("POST", "/events", json=body)
    assert resp.status_code == 202, resp.text
    return int(resp.json()["deliveries"])


def attempts_of(server: Server, sub_id: str, n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        resp = server.api("GET", "/webhooks/deliveries", params={"subscription_id": sub_id})
        rows = list(resp.json()["deliveries"])
        if len(rows) >= n:
            return rows
        assert time.monotonic() < deadline, f"expected {n} attempts, got {rows}"
        time.sleep(0.05)


def test_flat_kind_payloads_verify_with_the_docs_verify_hmac(
    server: Server, receiver: Receiver
) -> None:
    sub = create(server, receiver, "/road", filters={"domains": ["sender.example.com"]})
    assert sub["name"] == "CRM Updates"
    assert sub["description"] == "email events to the CRM"
    assert sub["enabled"] is True and sub["status"] == "active", "enabled on creation"
    assert sub["profile"] == "inboxroad"
    # header values are secrets: read back masked, sent for real (below)
    assert sub["headers"] == {"X-Api-Key": "\u2022" * 8}
    assert sub["filters"] == {"domains": ["sender.example.com"]}
    secret = sub["secret"]
    assert isinstance(secret, str) and len(secret) >= 32
    assert sub["signing_key"] is None

    # the secret can be read again, and again
    for _ in range(2):
        again = server.api("GET", f"/webhooks/subscriptions/{sub['id']}/secret")
        assert again.status_code == 200
        assert again.json() == {"secret": secret}
    got = server.api("GET", f"/webhooks/subscriptions/{sub['id']}").json()
    assert (got["name"], got["description"], got["enabled"]) == (
        "CRM Updates", "email events to the CRM", True,
    )  # fmt: skip

    for i, (type_, _, data) in enumerate(EXAMPLES):
        domain = "Sender.Example.COM" if i == 0 else "sender.example.com"
        assert publish(server, f"evt_road_{i}", type_, data, domain=domain) == 1
    no_id = {"sender": "a@sender.example.com", "recipient": "b@example.com"}
    assert publish(server, "evt_road_noid", "message.delivered", no_id, domain="sender.example.com")
    # the sending-domain filter: other domains and events without a domain do not pass
    assert publish(server, "evt_other", "message.delivered", no_id, domain="other.example.com") == 0
    assert publish(server, "evt_nodomain", "message.delivered", no_id) == 0

    received = receiver.wait_for(lambda rs: len(rs) >= 6)
    for event_id in [f"evt_road_{i}" for i in range(len(EXAMPLES))] + ["evt_road_noid"]:
        server.wait_states(event_id, {"succeeded"})  # final: no attempt can follow
    assert len(receiver.requests) == 6
    bodies = {}
    for r in received:
        assert verify_hmac(r.body, r.headers["X-Signature"], secret)
        assert not verify_hmac(r.body, r.headers["X-Signature"], secret + "x")
        assert not verify_hmac(r.body + b" ", r.headers["X-Signature"], secret)
        assert r.headers["X-Api-Key"] == "abc"
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["User-Agent"].startswith("Hookline/")
        assert "webhook-signature" not in {k.lower() for k in r.headers}
        payload = json.loads(r.body)
        bodies[payload["kind"], payload["message_id"]] = (r.body, payload)
    assert len(bodies) == 6

    for type_, kind, data in EXAMPLES:
        raw, payload = bodies[kind, data["message_id"]]
        expected = {"kind": kind, **data, "timestamp": OCCURRED, "message_id": data["message_id"]}
        assert payload == expected, type_
        assert list(payload) == list(expected), "kind first, the data, then timestamp"
        assert raw == json.dumps(expected, separators=(",", ":"), ensure_ascii=False).encode()
    _, flat = bodies["delivered", "evt_road_noid"]
    assert flat == {
        "kind": "delivered",
        **no_id,
        "timestamp": OCCURRED,
        "message_id": "evt_road_noid",
    }

    # a test send is signed the same way and carries the custom header too
    tested = server.api(
        "POST", f"/webhooks/subscriptions/{sub['id']}/test", json={"event_type": "message.clicked"}
    )
    assert tested.status_code == 200, tested.text
    assert tested.json()["response_status"] == 200
    last = receiver.wait_for(lambda rs: len(rs) >= 7)[-1]
    assert verify_hmac(last.body, last.headers["X-Signature"], secret)
    assert last.headers["X-Api-Key"] == "abc"
    assert json.loads(last.body)["kind"] == "click"

    # the filter can be changed: now only the other domain passes
    patched = server.api(
        "PATCH",
        f"/webhooks/subscriptions/{sub['id']}",
        json={"filters": {"domains": ["other.example.com"]}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["filters"] == {"domains": ["other.example.com"]}
    assert publish(server, "evt_s2", "message.opened", no_id, domain="sender.example.com") == 0
    assert publish(server, "evt_o2", "message.opened", no_id, domain="other.example.com") == 1
    other = receiver.wait_for(lambda rs: len(rs) >= 8)[-1]
    assert json.loads(other.body)["message_id"] == "evt_o2"
    assert verify_hmac(other.body, other.headers["X-Signature"], secret)


def test_disable_and_enable_again(server: Server, receiver: Receiver) -> None:
    receiver.plan("/flaky", [500, 200])
    sub = create(server, receiver, "/flaky", retry_schedule=[0, 1])
    assert sub["enabled"] is True
    secret = sub["secret"]
    data = dict(EXAMPLES[0][2])

    # a retry carries the custom header too
    assert publish(server, "evt_first", "message.delivered", data) == 1
    first, retry = receiver.wait_for(lambda rs: len(rs) >= 2)
    assert first.body == retry.body
    for r in (first, retry):
        assert r.headers["X-Api-Key"] == "abc"
        assert verify_hmac(r.body, r.headers["X-Signature"], secret)
    attempts_of(server, sub["id"], 2)

    # a failing attempt, then disable before its retry is due: no further request
    receiver.plan("/flaky", [500, 200])
    assert publish(server, "evt_cut", "message.delivered", data) == 1
    receiver.wait_for(lambda rs: len(rs) >= 3)
    attempts_of(server, sub["id"], 3)
    off = server.api("PATCH", f"/webhooks/subscriptions/{sub['id']}", json={"enabled": False})
    assert off.status_code == 200, off.text
    assert off.json()["enabled"] is False
    assert off.json()["status"] == "disabled"
    assert off.json()["disabled_reason"]
    # held, not sent: kept for when the webhook is enabled again
    assert publish(server, "evt_while_off", "message.delivered", data) == 1
    cut = server.api("GET", "/events/evt_cut/deliveries").json()["deliveries"]
    assert [(d["state"], d["attempts"]) for d in cut] == [("held", 1)], "its retry is held"
    off_one = server.api("GET", "/events/evt_while_off/deliveries").json()["deliveries"]
    assert [(d["state"], d["attempts"]) for d in off_one] == [("held", 0)]
    assert server.api("GET", f"/webhooks/subscriptions/{sub['id']}").json()["enabled"] is False

    on = server.api("PATCH", f"/webhooks/subscriptions/{sub['id']}", json={"enabled": True})
    assert on.status_code == 200, on.text
    assert on.json()["enabled"] is True
    assert on.json()["status"] == "active"
    assert on.json()["disabled_reason"] is None
    assert publish(server, "evt_back", "message.delivered", data) == 1
    got = receiver.wait_for(lambda rs: len(rs) >= 4)
    back = got[-1]
    # enabled without "held": what was held stays held, nothing of it was sent
    assert len(got) == 4 and json.loads(back.body)["message_id"] == data["message_id"]
    assert [r.headers.get("X-Api-Key") for r in got] == ["abc"] * 4
    assert back.headers["X-Api-Key"] == "abc"
    assert verify_hmac(back.body, back.headers["X-Signature"], secret)
    assert json.loads(back.body)["kind"] == "delivered"
    assert server.api("GET", f"/webhooks/subscriptions/{sub['id']}/secret").json() == {
        "secret": secret
    }, "disabling and enabling keep the secret"


def test_created_disabled_delivers_nothing_until_enabled(
    server: Server, receiver: Receiver
) -> None:
    sub = create(server, receiver, "/later", enabled=False)
    assert sub["enabled"] is False and sub["status"] == "disabled"
    assert publish(server, "evt_not_yet", "message.opened", EXAMPLES[1][2]) == 1  # held
    on = server.api("PATCH", f"/webhooks/subscriptions/{sub['id']}", json={"enabled": True})
    assert on.json()["enabled"] is True
    assert publish(server, "evt_now", "message.opened", EXAMPLES[1][2]) == 1
    [req] = receiver.wait_for(lambda rs: len(rs) >= 1)
    held = server.api("GET", "/events/evt_not_yet/deliveries").json()["deliveries"]
    assert [d["state"] for d in held] == ["held"], "enabled without held: it stays held"
    assert json.loads(req.body)["kind"] == "open"
    assert verify_hmac(req.body, req.headers["X-Signature"], sub["secret"])
