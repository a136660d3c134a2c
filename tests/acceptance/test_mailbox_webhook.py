"""Inkbox mailbox webhooks: PATCH webhook_url delivers all of the mailbox's events there."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from conftest import Receiver, Server


@pytest.fixture
def server(tidy_shared_server: Server) -> Server:
    """One server per database for the module: each test's mailboxes and events are its own, it
    counts only what its own receiver heard, and its subscriptions are deleted when it ends."""
    return tidy_shared_server


def test_mailbox_webhook_url_set_and_cleared(server: Server, receiver: Receiver) -> None:
    server.api("POST", "/identities", json={"agent_handle": "mb-owner"})
    server.api(
        "POST",
        "/mail/mailboxes",
        json={"email_address": "box@example.com", "agent_handle": "mb-owner"},
    )
    server.api("POST", "/mail/mailboxes", json={"email_address": "other@example.com"})
    receiver.plan("/box", [500])
    patched = server.api(
        "PATCH", "/mail/mailboxes/box@example.com", json={"webhook_url": receiver.url("/box")}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["webhook_url"] == receiver.url("/box")
    owner_key = patched.json()["signing_key"]
    assert owner_key, "signed with the owning identity's key, minted here"
    assert server.api("GET", "/mail/mailboxes/box@example.com").json()[
        "webhook_url"
    ] == receiver.url("/box")

    for i, kind in enumerate(
        ["message.received", "message.sent", "message.bounced", "message.delivered"]
    ):
        server.api(
            "POST",
            "/events",
            json={"id": f"evt_mb_{i}", "type": kind, "mailbox": "box@example.com"},
        )
    server.api(
        "POST",
        "/events",
        json={"id": "evt_mb_other", "type": "message.sent", "mailbox": "other@example.com"},
    )
    got = receiver.wait_for(lambda rs: len({json.loads(r.body)["id"] for r in rs}) >= 4)
    assert {json.loads(r.body)["id"] for r in got} == {f"evt_mb_{i}" for i in range(4)}
    for r in got:
        msg = (
            f"{r.headers['X-Inkbox-Request-ID']}.{r.headers['X-Inkbox-Timestamp']}.".encode()
            + r.body
        )
        digest = hmac.new(
            owner_key.removeprefix("whsec_").encode(), msg, hashlib.sha256
        ).hexdigest()
        assert r.headers["X-Inkbox-Signature"] == "sha256=" + digest

    # the endpoint keeps failing, so retries are pending; null stops them at once
    cleared = server.api("PATCH", "/mail/mailboxes/box@example.com", json={"webhook_url": None})
    assert cleared.status_code == 200
    assert cleared.json()["webhook_url"] is None
    seen = len(receiver.requests)
    after = server.api(
        "POST",
        "/events",
        json={"id": "evt_mb_after", "type": "message.sent", "mailbox": "box@example.com"},
    )
    assert after.json()["deliveries"] == 0, "a cleared webhook gets no new deliveries"
    for i in range(4):  # final: the retries that were pending are never claimed
        server.wait_states(f"evt_mb_{i}", {"cancelled", "failed"})
    assert len(receiver.requests) == seen

    bad = server.api("PATCH", "/mail/mailboxes/box@example.com", json={"webhook_url": "ftp://x"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "webhook_url"
    assert (
        server.api(
            "PATCH", "/mail/mailboxes/none@example.com", json={"webhook_url": None}
        ).status_code
        == 404
    )


def test_webhook_url_follows_its_subscription_on_every_surface(
    server: Server, receiver: Receiver
) -> None:
    server.api("POST", "/mail/mailboxes", json={"email_address": "sync@example.com"})
    server.api(
        "PATCH", "/mail/mailboxes/sync@example.com", json={"webhook_url": receiver.url("/one")}
    )
    [sub] = server.api(
        "GET", "/webhooks/subscriptions", params={"url": receiver.url("/one")}
    ).json()["subscriptions"]
    moved = server.api(
        "PATCH", f"/webhooks/subscriptions/{sub['id']}", json={"url": receiver.url("/two")}
    )
    assert moved.status_code == 200, moved.text
    box = server.api("GET", "/mail/mailboxes/sync@example.com").json()
    assert box["webhook_url"] == receiver.url("/two")

    assert server.api("DELETE", f"/webhooks/subscriptions/{sub['id']}").status_code == 204
    assert server.api("GET", "/mail/mailboxes/sync@example.com").json()["webhook_url"] is None
    # setting it again makes a new subscription, not a dangling reference to the old one
    again = server.api(
        "PATCH", "/mail/mailboxes/sync@example.com", json={"webhook_url": receiver.url("/three")}
    )
    assert again.json()["webhook_url"] == receiver.url("/three")
    server.api(
        "POST",
        "/events",
        json={"id": "evt_sync", "type": "message.received", "mailbox": "sync@example.com"},
    )
    got = receiver.wait_for(lambda rs: len(rs) >= 1)
    assert [r.path for r in got] == ["/three"]
