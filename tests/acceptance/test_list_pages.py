"""Every list answer says whether more rows follow it (``has_more``)."""

from __future__ import annotations

from typing import Any

import httpx

from conftest import ADMIN_KEY, Receiver, Server


def _page(server: Server, path: str, key: str, **params: Any) -> tuple[int, bool]:
    resp = server.api("GET", path, params=params)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return len(body[key]), body["has_more"]


def test_lists_say_whether_more_follow(server: Server, receiver: Receiver) -> None:
    for i in range(3):
        handle = f"agent-{i}"
        assert server.api("POST", "/identities", json={"agent_handle": handle}).status_code == 201
        mailbox = {"email_address": f"m{i}@example.com"}
        assert server.api("POST", "/mail/mailboxes", json=mailbox).status_code == 201
        phone = {"number": f"+1555000000{i}"}
        assert server.api("POST", "/phone/numbers", json=phone).status_code == 201
    subs = [
        server.api(
            "POST",
            "/webhooks/subscriptions",
            json={"url": receiver.url(f"/s{i}"), "event_types": ["message.read"]},
        ).json()["id"]
        for i in range(3)
    ]
    for _ in range(3):
        sent = server.api(
            "POST", f"/webhooks/subscriptions/{subs[0]}/test", json={"event_type": "message.read"}
        )
        assert sent.status_code == 200, sent.text
    for path, key in (
        ("/identities", "identities"),
        ("/mail/mailboxes", "mailboxes"),
        ("/phone/numbers", "phone_numbers"),
        ("/webhooks/subscriptions", "subscriptions"),
        ("/webhooks/deliveries", "deliveries"),
    ):
        assert _page(server, path, key, limit=2) == (2, True), path
        assert _page(server, path, key, limit=2, offset=2) == (1, False), path
        # exactly as many rows as the limit: none follow
        assert _page(server, path, key, limit=3) == (3, False), path
        assert _page(server, path, key) == (3, False), path
    assert _page(server, "/api-keys", "api_keys") == (1, False)

    published = server.api("POST", "/events", json={"id": "evt_pages", "type": "message.read"})
    assert published.status_code == 202, published.text
    of_event = server.api("GET", "/events/evt_pages/deliveries").json()
    assert of_event["has_more"] is False and len(of_event["deliveries"]) == 3


def test_inbox_style_lists_say_whether_more_follow(server: Server, receiver: Receiver) -> None:
    with httpx.Client(
        base_url=server.base, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    ) as inbox:
        hook = inbox.post("/v1/webhooks", json={"url": receiver.url(), "events": ["message.read"]})
        assert hook.status_code == 201, hook.text
        tested = {"webhook_id": hook.json()["id"], "event_type": "message.read"}
        assert inbox.post("/v1/webhooks/test", json=tested).status_code == 200
        listed = inbox.get("/v1/webhooks").json()
        assert (len(listed["webhooks"]), listed["has_more"]) == (1, False)
        logs = inbox.get(f"/v1/webhooks/{hook.json()['id']}/logs").json()
        assert (len(logs["logs"]), logs["has_more"]) == (1, False)
