"""Which key signs a mailbox's webhook: the owning identity's, so that an agent key setting
its own mailbox's ``webhook_url`` never sees nor causes the organization's key (which signs
every organization-wide subscription); a mailbox no identity owns is the admin's, signed with
the organization's key."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from conftest import Received, Receiver, Server


def _inkbox_signed_by(req: Received, key: str) -> bool:
    msg = f"{req.headers['X-Inkbox-Request-ID']}.{req.headers['X-Inkbox-Timestamp']}.".encode()
    digest = hmac.new(
        key.removeprefix("whsec_").encode(), msg + req.body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(req.headers["X-Inkbox-Signature"], "sha256=" + digest)


def _ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json()


def _agent_client(server: Server, handle: str) -> httpx.Client:
    _ok(server.api("POST", "/identities", json={"agent_handle": handle}), 201)
    key = _ok(
        server.api("POST", "/api-keys", json={"scope": "agent", "agent_handle": handle}), 201
    )["key"]
    return httpx.Client(base_url=server.base + "/api/v1", headers={"X-API-Key": key}, timeout=30)


def test_an_agent_setting_its_mailbox_webhook_gets_its_own_key_never_the_orgs(
    server: Server, receiver: Receiver
) -> None:
    agent = _agent_client(server, "mallory")
    try:
        server.api(
            "POST",
            "/mail/mailboxes",
            json={"email_address": "mallory@example.com", "agent_handle": "mallory"},
        )
        patched = _ok(
            agent.patch(
                "/mail/mailboxes/mallory@example.com", json={"webhook_url": receiver.url("/m")}
            )
        )
        agent_key = patched["signing_key"]
        assert agent_key, "the agent's own key, made for it here and shown once"
        # the organization's key was neither made nor shown
        assert _ok(server.api("GET", "/signing-keys")) == {"configured": False, "created_at": None}
        mine = _ok(agent.get("/identities/mallory/signing-key"))
        assert mine["configured"] is True

        # the admin's organization-wide inkbox subscription: the organization's key, which
        # now exists and differs from what the agent holds
        org_wide = _ok(
            server.api(
                "POST",
                "/webhooks/subscriptions",
                json={
                    "url": receiver.url("/org"),
                    "event_types": ["message.received"],
                    "profile": "inkbox",
                },
            ),
            201,
        )
        org_key = org_wide["signing_key"]
        assert org_key and org_key != agent_key

        # an agent's subscription through /webhooks/subscriptions follows the same rule
        mailbox_id = _ok(agent.get("/mail/mailboxes/mallory@example.com"))["id"]
        own_sub = _ok(
            agent.post(
                "/webhooks/subscriptions",
                json={
                    "url": receiver.url("/sub"),
                    "event_types": ["message.received"],
                    "mailbox_id": mailbox_id,
                    "profile": "inkbox",
                },
            ),
            201,
        )
        assert own_sub["signing_key"] is None, "the agent's key exists already"

        server.api(
            "POST",
            "/events",
            json={"id": "evt_mk", "type": "message.received", "mailbox": "mallory@example.com"},
        )
        got = receiver.wait_for(lambda rs: {r.path for r in rs} >= {"/m", "/org", "/sub"})
        by_path = {r.path: r for r in got}
        for path in ("/m", "/sub"):
            assert _inkbox_signed_by(by_path[path], agent_key), path
            assert not _inkbox_signed_by(by_path[path], org_key), path
        assert _inkbox_signed_by(by_path["/org"], org_key)
        assert not _inkbox_signed_by(by_path["/org"], agent_key)
        assert json.loads(by_path["/m"].body)["id"] == "evt_mk"
    finally:
        agent.close()


def test_a_mailbox_no_identity_owns_is_the_admins_and_signed_with_the_org_key(
    server: Server, receiver: Receiver
) -> None:
    agent = _agent_client(server, "eve")
    try:
        server.api("POST", "/mail/mailboxes", json={"email_address": "shared@example.com"})
        # an agent cannot set it (it cannot even see it), nor subscribe to it
        denied = agent.patch(
            "/mail/mailboxes/shared@example.com", json={"webhook_url": receiver.url("/x")}
        )
        assert denied.status_code in (403, 404), denied.text
        assert _ok(server.api("GET", "/signing-keys"))["configured"] is False

        patched = _ok(
            server.api(
                "PATCH",
                "/mail/mailboxes/shared@example.com",
                json={"webhook_url": receiver.url("/shared")},
            )
        )
        org_key = patched["signing_key"]
        assert org_key and _ok(server.api("GET", "/signing-keys"))["configured"] is True
        server.api(
            "POST",
            "/events",
            json={"id": "evt_sh", "type": "message.sent", "mailbox": "shared@example.com"},
        )
        [req] = receiver.wait_for(lambda rs: len(rs) >= 1)
        assert _inkbox_signed_by(req, org_key)
    finally:
        agent.close()
