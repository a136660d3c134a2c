"""Endpoint health: Retry-After, 410 Gone, disabling after continuous failure, recovery."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from conftest import Launcher, Receiver, Server


@pytest.fixture
def server(tidy_shared_server: Server) -> Server:
    """One server per database for the module's tests that need no settings of their own:
    each publishes events with ids of its own, counts only what its own receiver heard, and
    its subscriptions are deleted when it ends."""
    return tidy_shared_server


def sub(server: Server, url: str, **extra: Any) -> dict[str, Any]:
    resp = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": url, "event_types": ["message.sent"], **extra},
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def test_retry_after_is_honoured(server: Server, receiver: Receiver) -> None:
    receiver.plan("/busy", [429, 200])
    receiver.headers["/busy"] = {"Retry-After": "3"}
    sub(server, receiver.url("/busy"), retry_schedule=[0, 1, 2])
    server.api("POST", "/events", json={"id": "evt_ra", "type": "message.sent"})
    first, second = receiver.wait_for(lambda rs: len(rs) >= 2, timeout_s=10)
    assert second.at - first.at >= 2.9, "the schedule said 1 s, Retry-After said 3 s"


def test_gone_disables_the_subscription(server: Server, receiver: Receiver) -> None:
    receiver.plan("/gone", [410])
    s = sub(server, receiver.url("/gone"), retry_schedule=[0, 1])
    server.api("POST", "/events", json={"id": "evt_410", "type": "message.sent"})
    receiver.wait_for(lambda rs: len(rs) >= 1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        got = server.api("GET", f"/webhooks/subscriptions/{s['id']}").json()
        if not got["enabled"]:
            break
        time.sleep(0.05)
    assert got["enabled"] is False and got["status"] == "disabled"
    assert "410" in got["disabled_reason"]
    server.api("POST", "/events", json={"id": "evt_410_b", "type": "message.sent"})
    # held and failed are states the worker never claims: nothing more can be sent
    server.wait_states("evt_410_b", {"held"})
    server.wait_states("evt_410", {"held", "failed"})
    assert len(receiver.requests) == 1


def test_continuous_failure_disables_and_announces(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    server = launcher.serve(database_url, HOOKLINE_DISABLE_AFTER_S="2")
    receiver.plan("/dead", [500])
    ops = server.api(
        "POST", "/webhooks/subscriptions",
        json={"url": receiver.url("/ops"), "event_types": ["subscription.disabled"]},
    ).json()  # fmt: skip
    assert ops["enabled"]
    dead = sub(server, receiver.url("/dead"), retry_schedule=[0, 1, 2, 3, 4, 5, 6, 7])
    for i in range(3):
        server.api("POST", "/events", json={"id": f"evt_dead_{i}", "type": "message.sent"})
    [announced] = receiver.wait_for(lambda rs: any(r.path == "/ops" for r in rs), timeout_s=15)[-1:]
    notice = json.loads(next(r for r in receiver.requests if r.path == "/ops").body)
    assert notice["type"] == "subscription.disabled"
    assert notice["data"]["subscription_id"] == dead["id"]
    assert "failing continuously" in notice["data"]["reason"]
    got = server.api("GET", f"/webhooks/subscriptions/{dead['id']}").json()
    assert got["enabled"] is False and "failing continuously" in got["disabled_reason"]
    # undelivered deliveries are held while it is disabled, a state the worker never claims
    for i in range(3):
        server.wait_states(f"evt_dead_{i}", {"held"})
    seen = len(receiver.at("/dead"))
    # and so are new events for it
    later = server.api("POST", "/events", json={"id": "evt_dead_3", "type": "message.sent"})
    assert later.json()["deliveries"] == 1
    [held] = [
        d
        for d in server.api("GET", "/events/evt_dead_3/deliveries").json()["deliveries"]
        if d["webhook_subscription_id"] == dead["id"]
    ]
    assert held["state"] == "held"
    assert len(receiver.at("/dead")) == seen, "a disabled subscription gets nothing"

    receiver.plan("/dead", [200])
    back = server.api(
        "PATCH",
        f"/webhooks/subscriptions/{dead['id']}",
        json={"enabled": True, "held": "send"},
    )
    assert back.json()["enabled"] is True and back.json()["disabled_reason"] is None
    receiver.wait_for(
        lambda rs: (
            {json.loads(r.body)["id"] for r in rs if r.path == "/dead" and r.at > announced.at}
            >= {f"evt_dead_{i}" for i in range(4)}
        ),
        timeout_s=10,
    )
