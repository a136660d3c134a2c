"""Deliveries never reach non-public addresses unless a network is explicitly allowed."""

from __future__ import annotations

import time
from typing import Any

from conftest import Launcher, Receiver


def test_loopback_is_refused_unless_allowed(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    server = launcher.serve(database_url, HOOKLINE_ALLOWED_NETWORKS="")
    targets = {
        "ip": receiver.url("/ip"),
        "name": f"http://localhost:{receiver.port}/name",
        "mapped": f"http://[::ffff:127.0.0.1]:{receiver.port}/mapped",
    }
    subs: dict[str, Any] = {}
    for key, url in targets.items():
        resp = server.api(
            "POST",
            "/webhooks/subscriptions",
            json={"url": url, "event_types": ["message.sent"], "retry_schedule": [0]},
        )
        assert resp.status_code == 201, resp.text
        subs[key] = resp.json()
    server.api("POST", "/events", json={"id": "evt_ssrf", "type": "message.sent"})
    deadline = time.monotonic() + 15
    logged: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(logged) < 3:
        logged = server.api("GET", "/webhooks/deliveries").json()["deliveries"]
        time.sleep(0.1)
    assert len(logged) == 3
    for attempt in logged:
        assert attempt["response_status"] is None
        assert (
            "non-public" in attempt["error_detail"] or "not a public" in attempt["error_detail"]
        ), attempt
    assert receiver.requests == []
