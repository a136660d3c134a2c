"""Routing by owner, event type and domain, over the wire."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import Receiver, Server


@pytest.fixture
def server(tidy_shared_server: Server) -> Server:
    """The module's server: a test's subscriptions are deleted when it ends, so each
    publish is routed among the subscriptions of the test that made it."""
    return tidy_shared_server


def post(server: Server, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    resp = server.api("POST", path, json=body)
    assert resp.status_code == status, resp.text
    return dict(resp.json())


def test_routing_by_owner_type_and_domain(server: Server, receiver: Receiver) -> None:
    ident = post(server, "/identities", {"agent_handle": "ada"})
    other = post(server, "/identities", {"agent_handle": "bob"})
    mailbox = post(
        server, "/mail/mailboxes", {"email_address": "ada@example.com", "agent_handle": "ada"}
    )
    post(server, "/mail/mailboxes", {"email_address": "bob@example.com", "agent_handle": "bob"})
    phone = post(server, "/phone/numbers", {"number": "+15550000001", "agent_handle": "ada"})
    mail_types = ["message.received", "message.bounced"]
    subs = {
        "/mailbox": {"mailbox_id": mailbox["id"], "event_types": mail_types},
        "/phone": {"phone_number_id": phone["id"], "event_types": ["text.received"]},
        "/identity": {
            "agent_identity_id": ident["id"],
            "event_types": [*mail_types, "text.received"],
        },
        "/other-identity": {"agent_identity_id": other["id"], "event_types": mail_types},
        "/org": {"event_types": [*mail_types, "text.received"]},
        "/org-bounces": {"event_types": ["message.bounced"]},
        "/org-domain": {"event_types": mail_types, "filters": {"domains": ["shop.example"]}},
    }
    for path, body in subs.items():
        post(server, "/webhooks/subscriptions", {"url": receiver.url(path), **body})

    events = [
        {
            "id": "e_mail",
            "type": "message.received",
            "mailbox": "ada@example.com",
            "domain": "SHOP.example",
        },
        {"id": "e_text", "type": "text.received", "phone_number": "+15550000001"},
        {"id": "e_agent", "type": "message.bounced", "agent_handle": "ada"},
        {
            "id": "e_bob",
            "type": "message.received",
            "mailbox": "bob@example.com",
            "domain": "other.example",
        },
        {"id": "e_org", "type": "message.received"},
    ]
    resp = post(
        server, "/events/batch", {"events": [{**e, "data": {"k": e["id"]}} for e in events]}, 202
    )
    counts = {e["id"]: e["deliveries"] for e in resp["events"]}
    expected = {
        "/mailbox": {"e_mail"},
        "/phone": {"e_text"},
        "/identity": {"e_mail", "e_text", "e_agent"},
        "/other-identity": {"e_bob"},
        "/org": {"e_mail", "e_text", "e_agent", "e_bob", "e_org"},
        "/org-bounces": {"e_agent"},
        "/org-domain": {"e_mail"},
    }
    for eid in counts:
        assert counts[eid] == sum(eid in want for want in expected.values()), eid
    total = sum(len(v) for v in expected.values())
    receiver.wait_for(lambda rs: len(rs) >= total)
    for eid in counts:  # final: no attempt can follow
        server.wait_states(eid, {"succeeded"})
    got: dict[str, set[str]] = {}
    for r in receiver.requests:
        got.setdefault(r.path, set()).add(json.loads(r.body)["id"])
    assert got == expected
    assert len(receiver.requests) == total


def test_publish_validation(server: Server) -> None:
    def bad(body: dict[str, Any], field: str) -> None:
        resp = server.api("POST", "/events", json=body)
        assert resp.status_code == 422, resp.text
        assert field in [e["field"] for e in resp.json()["errors"]], resp.json()

    bad({"type": "message.nope", "data": {}}, "type")
    bad({"type": "phone.incoming_call", "data": {}}, "type")
    bad({"type": "message.sent", "mailbox": "nobody@example.com"}, "mailbox")
    bad({"type": "message.sent", "phone_number": "12"}, "phone_number")
    bad({"type": "message.sent", "agent_handle": "ghost"}, "agent_handle")
    bad({"type": "message.sent", "data": []}, "data")
    bad({"type": "message.sent", "id": "has space"}, "id")
    bad({"type": "message.sent", "domain": "not a domain"}, "domain")
    bad({"type": "message.sent", "occurred_at": "yesterday"}, "occurred_at")
    post(server, "/identities", {"agent_handle": "x1"})
    post(server, "/mail/mailboxes", {"email_address": "x1@example.com", "agent_handle": "x1"})
    bad({"type": "message.sent", "mailbox": "x1@example.com", "agent_handle": "x1"}, "agent_handle")
    rejected = [{"id": "evt_rej_ok", "type": "message.sent"}, {"id": "evt_rej", "type": "zzz"}]
    batch = server.api("POST", "/events/batch", json={"events": rejected})
    assert batch.status_code == 422
    assert batch.json()["errors"][0]["field"] == "events[1].type"
    # nothing from a rejected batch was stored
    for event in rejected:
        assert server.api("GET", f"/events/{event['id']}").status_code == 404
    empty = server.api("POST", "/events/batch", json={"events": []})
    assert empty.status_code == 422
    ok = server.api(
        "POST", "/events", json={"type": "message.sent", "occurred_at": "2026-01-02T03:04:05+02:00"}
    )
    assert ok.status_code == 202
    assert ok.json()["timestamp"] == "2026-01-02T01:04:05Z"
    assert ok.json()["id"].startswith("evt_")
