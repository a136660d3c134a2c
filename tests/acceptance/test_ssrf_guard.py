"""Deliveries never reach non-public addresses unless a network is explicitly allowed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from conftest import Launcher, Receiver

PRIVATE_URLS = [
    "https://127.0.0.1/hook",
    "https://10.0.0.5/hook",
    "https://localhost/hook",
    "https://LOCALHOST./hook",
    "https://api.localhost/hook",
    "https://[::1]/hook",
    "https://[fd00::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:10.0.0.5]/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://2130706433/hook",  # 127.0.0.1 in decimal
    "https://0x7f000001/hook",  # ... in hex
    "https://127.1/hook",
    "https://0/hook",
]


def test_loopback_is_refused_at_connect_time_unless_allowed(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    """Made while loopback was allowed, the subscriptions stay; once it is not, every attempt
    is refused at connect time, and the log says only "destination not allowed"."""
    targets = {
        "ip": receiver.url("/ip"),
        "name": f"http://localhost:{receiver.port}/name",
        "mapped": f"http://[::ffff:127.0.0.1]:{receiver.port}/mapped",
    }
    before = launcher.serve(database_url, HOOKLINE_ALLOWED_NETWORKS="127.0.0.0/8")
    subs: dict[str, Any] = {}
    for key, url in targets.items():
        resp = before.api(
            "POST",
            "/webhooks/subscriptions",
            json={"url": url, "event_types": ["message.sent"], "retry_schedule": [0]},
        )
        assert resp.status_code == 201, resp.text
        subs[key] = resp.json()
    before.procs[0].stop()
    server = launcher.serve(database_url, HOOKLINE_ALLOWED_NETWORKS="")
    server.api("POST", "/events", json={"id": "evt_ssrf", "type": "message.sent"})
    deadline = time.monotonic() + 15
    logged: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(logged) < 3:
        logged = server.api("GET", "/webhooks/deliveries").json()["deliveries"]
        time.sleep(0.1)
    assert len(logged) == 3
    for attempt in logged:
        assert attempt["response_status"] is None
        assert attempt["error_detail"] == "destination not allowed", attempt
    assert receiver.requests == []


def test_private_destinations_are_refused_when_made(launcher: Launcher, tmp_path: Any) -> None:
    server = launcher.serve(f"sqlite:///{tmp_path}/hookline.db", HOOKLINE_ALLOWED_NETWORKS="")
    for url in PRIVATE_URLS:
        resp = server.api(
            "POST", "/webhooks/subscriptions", json={"url": url, "event_types": ["message.sent"]}
        )
        assert resp.status_code == 422, (url, resp.text)
        assert resp.json()["errors"][0]["field"] == "url", resp.text
        assert "public address" in resp.json()["detail"]
    # a name that does not resolve is accepted: the connect-time guard refuses it meanwhile
    made = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": "https://hooks.example.invalid/in", "event_types": ["message.sent"]},
    )
    assert made.status_code == 201, made.text
    sub_id = made.json()["id"]
    changed = server.api(
        "PATCH", f"/webhooks/subscriptions/{sub_id}", json={"url": "https://[::1]/x"}
    )
    assert changed.status_code == 422, changed.text
    assert changed.json()["errors"][0]["field"] == "url"
    # the Inbox-style API, a mailbox's webhook_url, a number's incoming_call_webhook_url
    inbox = server.client.post(
        "/v1/webhooks",
        json={"url": "https://10.0.0.5/x", "events": ["message.sent"]},
        headers={"Authorization": "Bearer " + server.client.headers["X-API-Key"]},
    )
    assert inbox.status_code == 422, inbox.text
    assert inbox.json()["errors"][0]["field"] == "url"
    assert server.api("POST", "/mail/mailboxes", json={"email_address": "a@b.example"}).is_success
    mailbox = server.api(
        "PATCH", "/mail/mailboxes/a@b.example", json={"webhook_url": "https://localhost/m"}
    )
    assert mailbox.status_code == 422, mailbox.text
    assert mailbox.json()["errors"][0]["field"] == "webhook_url"
    number = server.api("POST", "/phone/numbers", json={"number": "+15551234567"}).json()
    call = server.api(
        "PATCH",
        f"/phone/numbers/{number['id']}",
        json={
            "incoming_call_action": "webhook",
            "incoming_call_webhook_url": "https://127.0.0.1/c",
        },
    )
    assert call.status_code == 422, call.text
    assert call.json()["errors"][0]["field"] == "incoming_call_webhook_url"


@pytest.mark.parametrize("url", ["https://localhost/hook", "https://127.0.0.1/hook"])
def test_an_allowed_network_may_be_named(launcher: Launcher, tmp_path: Any, url: str) -> None:
    server = launcher.serve(f"sqlite:///{tmp_path}/hookline.db")  # 127.0.0.0/8 allowed
    resp = server.api(
        "POST", "/webhooks/subscriptions", json={"url": url, "event_types": ["message.sent"]}
    )
    assert resp.status_code == 201, resp.text
