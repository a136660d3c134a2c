"""Held deliveries end to end: events for a disabled subscription wait for it, and enabling
it sends them, drops them or leaves them held."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import Receiver, Server


@pytest.fixture
def server(tidy_shared_server: Server) -> Server:
    """One server per database for the module: each test's events have ids of its own and its
    subscriptions are deleted when it ends, so a later test's publish counts only its own."""
    return tidy_shared_server


EVENTS = 50


def _sub(server: Server, url: str) -> dict[str, Any]:
    resp = server.api(
        "POST", "/webhooks/subscriptions", json={"url": url, "event_types": ["message.sent"]}
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _patch(server: Server, sub: dict[str, Any], body: dict[str, Any]) -> Any:
    return server.api("PATCH", f"/webhooks/subscriptions/{sub['id']}", json=body)


def _publish(server: Server, prefix: str, n: int, *, subscriptions: int = 1) -> list[str]:
    events = [{"id": f"{prefix}_{i}", "type": "message.sent"} for i in range(n)]
    resp = server.api("POST", "/events/batch", json={"events": events})
    assert resp.status_code == 202, resp.text
    results = resp.json()["events"]
    # each is counted in the answer's deliveries, as a sent one would be
    assert [r["deliveries"] for r in results] == [subscriptions] * n
    return [e["id"] for e in events]


def _states(server: Server, event_ids: list[str]) -> set[str]:
    return {
        d["state"]
        for eid in event_ids
        for d in server.api("GET", f"/events/{eid}/deliveries").json()["deliveries"]
    }


def _ids(receiver: Receiver, path: str) -> list[str]:
    return [json.loads(r.body)["id"] for r in receiver.at(path)]


def test_enabling_with_held_send_delivers_what_was_held(server: Server, receiver: Receiver) -> None:
    sub = _sub(server, receiver.url("/later"))
    assert _patch(server, sub, {"enabled": False}).json()["enabled"] is False
    held = _publish(server, "evt_held", EVENTS)
    assert _states(server, held) == {"held"}

    back = _patch(server, sub, {"enabled": True, "held": "send"})
    assert back.status_code == 200, back.text
    receiver.wait_for(lambda rs: len(rs) >= EVENTS, timeout_s=20)
    assert sorted(_ids(receiver, "/later")) == sorted(held)


def test_enabling_with_drop_or_without_held_sends_nothing_held(
    server: Server, receiver: Receiver
) -> None:
    drop = _sub(server, receiver.url("/drop"))
    keep = _sub(server, receiver.url("/keep"))
    for s in (drop, keep):
        _patch(server, s, {"enabled": False})
    held = _publish(server, "evt_wait", 5, subscriptions=2)
    assert _states(server, held) == {"held"}

    # `held` only goes with enabling
    for body in (
        {"held": "send"},
        {"enabled": False, "held": "drop"},
        {"enabled": True, "held": "later"},
    ):
        refused = _patch(server, drop, body)
        assert refused.status_code == 422, (body, refused.text)
        assert "held" in refused.text
    assert _states(server, held) == {"held"}

    assert _patch(server, drop, {"enabled": True, "held": "drop"}).status_code == 200
    assert _patch(server, keep, {"enabled": True}).status_code == 200
    # a later event reaches both: whatever the held ones were to do, they have done by now
    after = server.api("POST", "/events", json={"id": "evt_after", "type": "message.sent"})
    assert after.json()["deliveries"] == 2
    receiver.wait_for(
        lambda rs: (
            {r.path for r in rs if json.loads(r.body)["id"] == "evt_after"} >= {"/drop", "/keep"}
        ),
        timeout_s=15,
    )
    assert _ids(receiver, "/drop") == ["evt_after"]
    assert _ids(receiver, "/keep") == ["evt_after"]
    deliveries = [
        d
        for eid in held
        for d in server.api("GET", f"/events/{eid}/deliveries").json()["deliveries"]
    ]
    by_sub = {
        s["id"]: {d["state"] for d in deliveries if d["webhook_subscription_id"] == s["id"]}
        for s in (drop, keep)
    }
    assert by_sub == {drop["id"]: {"cancelled"}, keep["id"]: {"held"}}
