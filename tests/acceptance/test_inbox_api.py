"""The Inbox-style API at /v1/webhooks, received by the Inbox docs' own receiver (Node).

``receivers/inbox_receiver.js`` is the docs' Express handler on node's http module, with the
docs' ``verifySignature`` copied verbatim; it answers 200 for a valid signature, 401 if not.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ADMIN_KEY, Server, free_port

RECEIVER_JS = Path(__file__).parent / "receivers" / "inbox_receiver.js"
WEBHOOK_FIELDS = {"id", "url", "events", "description", "enabled", "created_at", "updated_at"}
DELIVERED = {
    "message_id": "msg_1234567890",
    "to": "+15551234567",
    "delivered_at": "2025-01-15T10:25:03Z",
    "device_id": "dev_abcdef123456",
}
READ = {
    "message_id": "msg_1234567890",
    "to": "+15551234567",
    "read_at": "2025-01-15T10:25:15Z",
    "device_id": "dev_abcdef123456",
}


@dataclass
class NodeReceiver:
    """The docs' receiver running under node; ``lines`` are its JSON reports, one a request."""

    port: int
    proc: subprocess.Popen[str]
    lines: list[dict[str, Any]] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    pump: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/inbox"

    def reports(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.lines)

    def wait_reports(self, n: int, timeout_s: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while len(self.reports()) < n:
            assert time.monotonic() < deadline, f"node receiver: {self.reports()} {self.other}"
            time.sleep(0.02)
        return self.reports()


StartNode = Callable[[int, str], NodeReceiver]


@pytest.fixture
def node_receiver() -> Iterator[StartNode]:
    """``start(port, secret)``: the docs' receiver on 127.0.0.1:port with that secret."""
    node = shutil.which("node")
    assert node, "node is required for this test"
    started: list[NodeReceiver] = []

    def start(port: int, secret: str) -> NodeReceiver:
        proc = subprocess.Popen(
            [node, str(RECEIVER_JS)],
            env={"PORT": str(port), "INBOX_WEBHOOK_SECRET": secret, "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        rec = NodeReceiver(port=port, proc=proc)
        started.append(rec)
        ready = threading.Event()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.strip()
                if line == "listening":
                    ready.set()
                elif line.startswith("{"):
                    with rec.lock:
                        rec.lines.append(json.loads(line))
                else:
                    with rec.lock:
                        rec.other.append(line)

        rec.pump = threading.Thread(target=pump, daemon=True)
        rec.pump.start()
        assert ready.wait(10), f"node receiver did not start: {rec.other}"
        return rec

    yield start
    for rec in started:
        rec.proc.terminate()
        try:
            rec.proc.wait(5)
        except subprocess.TimeoutExpired:
            rec.proc.kill()
            rec.proc.wait(5)
        if rec.pump is not None:
            rec.pump.join(5)
        assert rec.proc.stdout is not None
        rec.proc.stdout.close()


@pytest.fixture
def server(tidy_shared_server: Server) -> Server:
    """The module's server: a test's webhooks are deleted when it ends, so each test lists
    and publishes to its own only."""
    return tidy_shared_server


@pytest.fixture
def inbox(server: Server) -> Iterator[httpx.Client]:
    """A client of the Inbox-style API, authenticated the way its docs say (Bearer)."""
    client = httpx.Client(
        base_url=server.base, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    )
    yield client
    client.close()


def logs(inbox: httpx.Client, webhook_id: str, n: int, timeout_s: float = 15.0) -> list[Any]:
    """The webhook's logs once they hold at least ``n`` rows."""
    deadline = time.monotonic() + timeout_s
    while True:
        resp = inbox.get(f"/v1/webhooks/{webhook_id}/logs")
        assert resp.status_code == 200, resp.text
        rows = list(resp.json()["logs"])
        if len(rows) >= n:
            return rows
        assert time.monotonic() < deadline, f"expected {n} log rows, got {rows}"
        time.sleep(0.05)


def publish(server: Server, event_id: str, type_: str, data: dict[str, Any]) -> int:
    body = {"id": event_id, "type": type_, "data": data, "occurred_at": "2025-01-15T10:25:03Z"}
    resp = server.api("POST", "/events", json=body)
    assert resp.status_code == 202, resp.text
    return int(resp.json()["deliveries"])


def test_the_docs_receiver_accepts_every_delivery(
    server: Server, inbox: httpx.Client, node_receiver: StartNode
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/inbox"
    resp = inbox.post(
        "/v1/webhooks",
        json={
            "url": url,
            "events": ["message.delivered", "message.read", "message.failed"],
            "description": "Production webhook endpoint",
        },
    )
    assert resp.status_code == 201, resp.text
    hook = resp.json()
    assert set(hook) == WEBHOOK_FIELDS | {"secret"}
    assert hook["url"] == url
    assert hook["events"] == ["message.delivered", "message.read", "message.failed"]
    assert hook["description"] == "Production webhook endpoint"
    assert hook["enabled"] is True
    assert isinstance(hook["secret"], str) and len(hook["secret"]) >= 32
    sub = server.api("GET", f"/webhooks/subscriptions/{hook['id']}").json()
    assert sub["profile"] == "inbox"

    node = node_receiver(port, hook["secret"])

    assert publish(server, "evt_inbox_delivered", "message.delivered", DELIVERED) == 1
    assert publish(server, "evt_inbox_read", "message.read", READ) == 1
    assert publish(server, "evt_inbox_sent", "message.sent", {"n": 1}) == 0, "not subscribed"
    tested = inbox.post(
        "/v1/webhooks/test", json={"webhook_id": hook["id"], "event_type": "message.failed"}
    )
    assert tested.status_code == 200, tested.text
    assert tested.json()["response_status"] == 200
    assert tested.json()["response_body"] == "OK"
    assert tested.json()["event_id"].startswith("evt_test_")

    reports = node.wait_reports(3)
    assert all(r["status"] == 200 for r in reports), reports
    assert {(r["type"], r["id"]) for r in reports} == {
        ("message.delivered", "evt_inbox_delivered"),
        ("message.read", "evt_inbox_read"),
        ("message.failed", tested.json()["event_id"]),
    }

    rows = logs(inbox, hook["id"], 3)
    assert len(rows) == 3
    assert [r["response_status"] for r in rows] == [200, 200, 200]
    assert all(r["success"] is True and r["response_body"] == "OK" for r in rows)
    assert all(r["webhook_subscription_id"] == hook["id"] and r["url"] == url for r in rows)
    by_event = {r["event_id"]: r for r in rows}
    assert by_event["evt_inbox_delivered"]["request_payload"] == {
        "id": "evt_inbox_delivered",
        "type": "message.delivered",
        "created_at": "2025-01-15T10:25:03Z",
        "data": DELIVERED,
    }
    assert by_event["evt_inbox_read"]["event_type"] == "message.read"
    assert tested.json()["event_id"] in by_event

    # the receiver can fail: a wrong signature and a tampered body both get 401
    body = json.dumps({"id": "evt_forged", "type": "message.read", "data": READ}).encode()
    wrong = "sha256=" + hmac.new(b"not-the-secret", body, hashlib.sha256).hexdigest()
    forged = httpx.post(node.url, content=body, headers={"X-Inbox-Signature": wrong})
    assert forged.status_code == 401
    assert forged.text == "Unauthorized"
    right = "sha256=" + hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
    tampered = httpx.post(
        node.url, content=body.replace(b"message.read", b"message.sent"),
        headers={"X-Inbox-Signature": right},
    )  # fmt: skip
    assert tampered.status_code == 401
    genuine = httpx.post(node.url, content=body, headers={"X-Inbox-Signature": right})
    assert genuine.status_code == 200, "and a correctly signed request is accepted"
    assert [r["status"] for r in node.wait_reports(6)[3:]] == [401, 401, 200]


def test_list_put_delete(server: Server, inbox: httpx.Client, node_receiver: StartNode) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/inbox"
    created = inbox.post("/v1/webhooks", json={"url": url, "events": ["message.delivered"]})
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["description"] is None
    other = inbox.post(
        "/v1/webhooks",
        json={"url": "https://hooks.example.com/two", "events": ["message.failed"],
              "description": "second"},
    ).json()  # fmt: skip
    # a subscription made through /api/v1 is not an Inbox-style webhook
    native = server.api(
        "POST", "/webhooks/subscriptions",
        json={"url": "https://hooks.example.com/native", "event_types": ["message.failed"]},
    )  # fmt: skip
    assert native.status_code == 201

    listed = inbox.get("/v1/webhooks")
    assert listed.status_code == 200
    webhooks = {w["id"]: w for w in listed.json()["webhooks"]}
    assert set(webhooks) == {hook["id"], other["id"]}
    assert webhooks[other["id"]] == {k: other[k] for k in WEBHOOK_FIELDS}
    assert all(set(w) == WEBHOOK_FIELDS for w in webhooks.values()), "no secret in listings"
    assert hook["secret"] not in listed.text

    node = node_receiver(port, hook["secret"])
    assert publish(server, "evt_before_put", "message.delivered", DELIVERED) == 1
    node.wait_reports(1)

    put = inbox.put(
        f"/v1/webhooks/{hook['id']}",
        json={"url": url, "events": ["message.read"], "description": "only reads now"},
    )
    assert put.status_code == 200, put.text
    assert put.json()["events"] == ["message.read"]
    assert put.json()["description"] == "only reads now"
    assert put.json()["id"] == hook["id"]
    assert "secret" not in put.json()
    again = {w["id"]: w for w in inbox.get("/v1/webhooks").json()["webhooks"]}[hook["id"]]
    assert again["events"] == ["message.read"] and again["description"] == "only reads now"

    assert publish(server, "evt_after_put_1", "message.delivered", DELIVERED) == 0
    assert publish(server, "evt_after_put_2", "message.read", READ) == 1
    reports = node.wait_reports(2)
    assert [(r["status"], r["id"]) for r in reports] == [
        (200, "evt_before_put"),
        (200, "evt_after_put_2"),
    ], "the secret is unchanged by PUT: the receiver still accepts"
    assert [r["event_id"] for r in logs(inbox, hook["id"], 2)] == [
        "evt_after_put_2",
        "evt_before_put",
    ], "newest first"

    assert inbox.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    remaining = [w["id"] for w in inbox.get("/v1/webhooks").json()["webhooks"]]
    assert remaining == [other["id"]]
    # the publish made no delivery for it: nothing can reach it later
    assert publish(server, "evt_after_delete", "message.read", READ) == 0
    for method, path, body in (
        ("PUT", f"/v1/webhooks/{hook['id']}", {"url": url, "events": ["message.read"]}),
        ("DELETE", f"/v1/webhooks/{hook['id']}", None),
        ("GET", f"/v1/webhooks/{hook['id']}/logs", None),
        ("POST", "/v1/webhooks/test", {"webhook_id": hook["id"], "event_type": "message.read"}),
    ):
        resp = inbox.request(method, path, json=body)
        assert resp.status_code == 404, (method, path, resp.text)
    assert len(node.reports()) == 2, "nothing reaches a deleted webhook"

    # nor does this API act on a subscription made through /api/v1
    native_id = native.json()["id"]
    for method, path, body in (
        ("PUT", f"/v1/webhooks/{native_id}", {"url": url, "events": ["message.read"]}),
        ("DELETE", f"/v1/webhooks/{native_id}", None),
        ("GET", f"/v1/webhooks/{native_id}/logs", None),
        ("POST", "/v1/webhooks/test", {"webhook_id": native_id, "event_type": "message.failed"}),
    ):
        resp = inbox.request(method, path, json=body)
        assert resp.status_code == 404, (method, path, resp.text)
    still = server.api("GET", f"/webhooks/subscriptions/{native_id}").json()
    assert still["event_types"] == ["message.failed"] and still["url"].endswith("/native")


def test_auth_and_validation(server: Server, inbox: httpx.Client) -> None:
    base = server.base + "/v1/webhooks"
    assert httpx.get(base).status_code == 401
    assert httpx.get(base, headers={"Authorization": "Bearer hl_wrong"}).status_code == 401
    assert httpx.get(base, headers={"Authorization": f"Basic {ADMIN_KEY}"}).status_code == 401
    assert inbox.get("/v1/webhooks").json() == {"webhooks": [], "has_more": False}

    for body, field_name in (
        ({"url": "https://hooks.example.com/x", "events": []}, "events"),
        ({"url": "https://hooks.example.com/x", "events": ["message.nope"]}, "events[0]"),
        ({"url": "ftp://hooks.example.com/x", "events": ["message.read"]}, "url"),
        ({"events": ["message.read"]}, "url"),
    ):
        resp = inbox.post("/v1/webhooks", json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert field_name in [e["field"] for e in resp.json()["errors"]], resp.json()

    hook = inbox.post(
        "/v1/webhooks", json={"url": "https://hooks.example.com/x", "events": ["message.read"]}
    ).json()
    bad_put = inbox.put(
        f"/v1/webhooks/{hook['id']}", json={"url": "https://hooks.example.com/x", "events": []}
    )
    assert bad_put.status_code == 422, bad_put.text
    assert bad_put.json()["errors"][0]["field"] == "events", "named as in this API's request"
    bad_type = inbox.post("/v1/webhooks/test", json={"webhook_id": hook["id"], "event_type": "x"})
    assert bad_type.status_code == 422
    assert bad_type.json()["errors"][0]["field"] == "event_type"
    untaken = {"webhook_id": hook["id"], "event_type": "message.failed"}
    not_taken = inbox.post("/v1/webhooks/test", json=untaken)
    assert not_taken.status_code == 422, "the webhook takes only message.read"
    assert not_taken.json()["errors"][0]["field"] == "event_type"
    unknown = "00000000-0000-4000-8000-000000000000"
    assert inbox.get(f"/v1/webhooks/{unknown}/logs").status_code == 404
    assert inbox.get(f"/v1/webhooks/{hook['id']}/logs").json() == {"logs": [], "has_more": False}
