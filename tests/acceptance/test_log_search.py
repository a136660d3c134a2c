"""Log search over HTTP: the attempt log's filters, cursor paging, what each attempt sent and
got back (secrets masked), bad parameters named, and an agent key's scope."""

from __future__ import annotations

from typing import Any

import httpx

from conftest import Receiver, Server


def _ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


def _log(server: Server, key: str | None = None, **params: Any) -> dict[str, Any]:
    headers = {"X-API-Key": key} if key else None
    body: dict[str, Any] = _ok(
        server.api("GET", "/webhooks/deliveries", params=params, headers=headers)
    )
    return body


def test_log_search_filters_pages_and_shows_headers(server: Server, receiver: Receiver) -> None:
    ident = _ok(server.api("POST", "/identities", json={"agent_handle": "agent-a"}), 201)
    box = _ok(
        server.api(
            "POST",
            "/mail/mailboxes",
            json={"email_address": "a@example.com", "agent_handle": "agent-a"},
        ),
        201,
    )
    by_box = _ok(
        server.api(
            "POST",
            "/webhooks/subscriptions",
            json={
                "url": receiver.url("/box"),
                "event_types": ["message.read"],
                "mailbox_id": box["id"],
                "auth_token": "tok-secret-1",
                "headers": {"X-Tenant": "tenant-secret"},
            },
        ),
        201,
    )
    org_wide = _ok(
        server.api(
            "POST",
            "/webhooks/subscriptions",
            json={"url": receiver.url("/org"), "event_types": ["message.read", "message.sent"]},
        ),
        201,
    )
    receiver.plan("/box", [500, 200])
    receiver.headers["/box"] = {"X-Receiver": "seen"}
    for sub, kind in (
        (by_box, "message.read"),
        (by_box, "message.read"),
        (org_wide, "message.sent"),
    ):
        test = {"event_type": kind}
        _ok(server.api("POST", f"/webhooks/subscriptions/{sub['id']}/test", json=test))

    everything = _log(server)["deliveries"]
    assert len(everything) == 3
    box_log = _log(server, mailbox_id=box["id"])["deliveries"]
    assert [a["response_status"] for a in box_log] == [200, 500]
    assert [a["response_status"] for a in _log(server, status_code=500)["deliveries"]] == [500]
    assert _log(server, status_code=404)["deliveries"] == []
    assert [a["event_type"] for a in _log(server, event_type="message.sent")["deliveries"]] == [
        "message.sent"
    ]
    assert _log(server, agent_identity_id=ident["id"])["deliveries"] == []
    newest = everything[0]
    assert _log(server, since=newest["created_at"])["deliveries"][0]["id"] == newest["id"]
    assert _log(server, until="2000-01-01T00:00:00+00:00")["deliveries"] == []

    # what was sent (secrets masked) and what came back
    sent = box_log[0]["request_headers"]
    assert sent["Authorization"] == "********"
    assert sent["X-Tenant"] == "********"
    assert sent["webhook-signature"].startswith("v1,")
    assert "tok-secret-1" not in str(box_log) and "tenant-secret" not in str(box_log)
    assert box_log[0]["response_headers"]["X-Receiver"] == "seen"
    got = receiver.at("/box")[0].headers
    assert got["Authorization"] == "Bearer tok-secret-1" and got["X-Tenant"] == "tenant-secret"

    # cursor paging: one attempt a page, each once, then a null cursor
    seen: list[str] = []
    page = _log(server, limit=1)
    while True:
        seen += [a["id"] for a in page["deliveries"]]
        if page["next_cursor"] is None:
            assert page["has_more"] is False
            break
        page = _log(server, limit=1, cursor=page["next_cursor"])
    assert seen == [a["id"] for a in everything]

    # an agent key sees only its identity's attempts
    key = _ok(
        server.api("POST", "/api-keys", json={"scope": "agent", "agent_handle": "agent-a"}), 201
    )
    mine = _log(server, key=key["key"])["deliveries"]
    assert {a["webhook_subscription_id"] for a in mine} == {by_box["id"]}
    assert _log(server, key=key["key"], subscription_id=org_wide["id"])["deliveries"] == []


def test_bad_log_search_parameters_are_named(server: Server) -> None:
    for params, field in (
        ({"cursor": "x", "offset": 0}, "cursor"),
        ({"cursor": "not a cursor!"}, "cursor"),
        ({"since": "2026-01-01T00:00:00"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"status_code": 99}, "status_code"),
        ({"status_code": "abc"}, "status_code"),
        ({"success": "maybe"}, "success"),
    ):
        resp = server.api("GET", "/webhooks/deliveries", params=params)
        assert resp.status_code == 422, (params, resp.text)
        assert field in [e["field"] for e in resp.json()["errors"]], (params, resp.json())
