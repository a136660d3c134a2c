"""Publish → route → sign → deliver → retry → log, against the running server."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from conftest import Launcher, Receiver, Server

# DESIGN's logged-attempt fields, and Hookline's own additions
ATTEMPT_FIELDS = {
    "id", "organization_id", "webhook_subscription_id", "phone_number_id", "event_id",
    "event_type", "url", "request_payload", "response_status", "response_body", "error_detail",
    "duration_ms", "is_replay", "created_at", "replayable", "replay_unavailable_reason",
} | {"success", "delivery_id"} | {  # and log search's
    "mailbox_id", "agent_identity_id", "request_headers", "response_headers",
}  # fmt: skip


@pytest.fixture
def server(tidy_shared_server: Server) -> Server:
    """One server per database for the module's tests that need no settings of their own:
    each publishes events with ids of its own, looks at its own subscriptions' attempts and
    its own receiver, and its subscriptions are deleted when it ends. The tests that count
    every attempt the server logged start their own."""
    return tidy_shared_server


def subscribe(server: Server, url: str, **extra: Any) -> dict[str, Any]:
    body = {"url": url, "event_types": ["message.delivered", "message.bounced"], **extra}
    resp = server.api("POST", "/webhooks/subscriptions", json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def publish(server: Server, **event: Any) -> dict[str, Any]:
    event.setdefault("type", "message.delivered")
    event.setdefault("data", {"message_id": "m-1", "recipient": "a@example.com"})
    resp = server.api("POST", "/events", json=event)
    assert resp.status_code == 202, resp.text
    return dict(resp.json())


def attempts(server: Server, **params: Any) -> list[dict[str, Any]]:
    resp = server.api("GET", "/webhooks/deliveries", params=params)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["deliveries"])


def wait_attempts(
    server: Server, n: int, timeout_s: float = 15.0, **params: Any
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = attempts(server, **params)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    raise AssertionError(f"expected {n} logged attempts, have {len(attempts(server, **params))}")


def test_standard_delivery_verifies_with_standardwebhooks(
    server: Server, receiver: Receiver
) -> None:
    sub = subscribe(server, receiver.url("/std"))
    assert sub["profile"] == "standard"
    assert sub["secret"].startswith("whsec_")
    published = publish(server, id="evt_std_1", data={"message_id": "m-1", "to": "ü@example.com"})
    assert published == {
        "id": "evt_std_1",
        "type": "message.delivered",
        "timestamp": published["timestamp"],
        "deliveries": 1,
        "duplicate": False,
    }
    [req] = receiver.wait_for(lambda rs: len(rs) >= 1)
    payload = Webhook(sub["secret"]).verify(req.body, req.headers)
    assert payload["id"] == "evt_std_1"
    assert payload["type"] == "message.delivered"
    assert payload["data"] == {"message_id": "m-1", "to": "ü@example.com"}
    assert req.headers["webhook-id"] == "evt_std_1"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["User-Agent"].startswith("Hookline/")
    # a wrong secret must not verify: the check above is a real one
    other = Webhook("whsec_" + "A" * 32)
    try:
        other.verify(req.body, req.headers)
    except Exception:
        pass
    else:
        raise AssertionError("a foreign secret verified the signature")


def test_repeated_event_id_creates_nothing_new(server: Server, receiver: Receiver) -> None:
    subscribe(server, receiver.url("/dup"))
    first = publish(server, id="evt_dup")
    again = publish(server, id="evt_dup")
    assert first["deliveries"] == again["deliveries"] == 1
    assert again["duplicate"] is True
    # the same id with other content is not the same event: refused, not taken as a repeat
    other = server.api(
        "POST", "/events", json={"id": "evt_dup", "type": "message.delivered", "data": {}}
    )
    assert other.status_code == 409, other.text
    # the stored event keeps its one delivery; and once a later event has arrived, the
    # receiver has had one send of evt_dup only
    deliveries = server.api("GET", "/events/evt_dup/deliveries").json()["deliveries"]
    assert len(deliveries) == 1
    publish(server, id="evt_dup_after")
    receiver.wait_for(lambda rs: any(r.headers["webhook-id"] == "evt_dup_after" for r in rs))
    assert [r.headers["webhook-id"] for r in receiver.at("/dup")].count("evt_dup") == 1
    event = server.api("GET", "/events/evt_dup").json()
    assert event["data"] == {"message_id": "m-1", "recipient": "a@example.com"}


def test_failures_retry_on_schedule_then_fail(server: Server, receiver: Receiver) -> None:
    receiver.plan("/flaky", [500])
    sub = subscribe(server, receiver.url("/flaky"), retry_schedule=[0, 1, 2])
    publish(server, id="evt_retry")
    wait_attempts(server, 3, subscription_id=sub["id"])
    server.wait_states("evt_retry", {"failed"})  # final: no attempt can follow
    logged = attempts(server, subscription_id=sub["id"])
    assert len(logged) == 3, "three attempts, then failed"
    hits = receiver.at("/flaky")
    assert len(hits) == 3
    gaps = [b.at - a.at for a, b in itertools.pairwise(hits)]
    # offsets 0, 1, 2 s from the first try: never earlier than scheduled
    assert gaps[0] >= 0.95
    assert hits[2].at - hits[0].at >= 1.95
    assert all(a["response_status"] == 500 and a["success"] is False for a in logged)
    assert logged[0]["created_at"] >= logged[-1]["created_at"], "newest first"
    # the receiver answers "answer 500 " and 10,000 x: the log keeps the first 4096 bytes
    assert logged[0]["response_body"] == ("answer 500 " + "x" * 10_000)[:4096]
    state = server.api("GET", "/events/evt_retry/deliveries").json()
    assert [d["state"] for d in state["deliveries"]] == ["failed"]
    assert state["deliveries"][0]["attempts"] == 3


def test_server_wide_retry_schedule_applies_to_subscriptions_without_one(
    launcher: Any, database_url: str, receiver: Receiver
) -> None:
    server = launcher.serve(database_url, HOOKLINE_RETRY_SCHEDULE="0,2")
    receiver.plan("/wide", [500])
    sub = subscribe(server, receiver.url("/wide"))
    assert sub["retry_schedule"] is None
    publish(server, id="evt_wide")
    wait_attempts(server, 2, subscription_id=sub["id"])
    server.wait_states("evt_wide", {"failed"})  # final: no attempt can follow
    hits = receiver.at("/wide")
    assert len(hits) == 2, "two offsets: two attempts, then failed"
    assert hits[1].at - hits[0].at >= 1.95
    state = server.api("GET", "/events/evt_wide/deliveries").json()
    assert [(d["state"], d["attempts"]) for d in state["deliveries"]] == [("failed", 2)]


def test_success_after_retry(server: Server, receiver: Receiver) -> None:
    receiver.plan("/recovering", [503, 200])
    sub = subscribe(server, receiver.url("/recovering"), retry_schedule=[0, 1, 5])
    publish(server, id="evt_recover")
    logged = wait_attempts(server, 2, subscription_id=sub["id"])
    assert [a["response_status"] for a in logged] == [200, 503]
    state = server.api("GET", "/events/evt_recover/deliveries").json()
    assert state["deliveries"][0]["state"] == "succeeded"
    assert len(receiver.at("/recovering")) == 2


def test_redirect_is_a_failure_and_not_followed(server: Server, receiver: Receiver) -> None:
    receiver.plan("/moved", [301])
    sub = subscribe(server, receiver.url("/moved"), retry_schedule=[0])
    publish(server, id="evt_redirect")
    [logged] = wait_attempts(server, 1, subscription_id=sub["id"])
    assert logged["response_status"] == 301
    assert logged["success"] is False
    assert "redirect" in logged["error_detail"]


def test_timeout_is_logged_and_retried(
    launcher: Any, database_url: str, receiver: Receiver
) -> None:
    server = launcher.serve(database_url, HOOKLINE_DELIVERY_TIMEOUT_S="0.5")
    receiver.delays["/slow"] = 2.0
    sub = subscribe(server, receiver.url("/slow"), retry_schedule=[0, 1])
    publish(server, id="evt_slow")
    logged = wait_attempts(server, 2, subscription_id=sub["id"])
    assert all(a["response_status"] is None for a in logged)
    assert all("timed out" in a["error_detail"] for a in logged)
    # cut off at the timeout, not held until the receiver's late answer
    assert all(a["duration_ms"] < 2000 for a in logged)


def test_delivery_log_filters_and_paging(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    server = launcher.serve(database_url)
    receiver.plan("/bad", [500])
    good = subscribe(server, receiver.url("/good"), retry_schedule=[0])
    bad = subscribe(server, receiver.url("/bad"), retry_schedule=[0])
    for i in range(3):
        publish(server, id=f"evt_log_{i}")
    publish(server, id="evt_log_b", type="message.bounced")
    wait_attempts(server, 8)
    assert len(attempts(server, subscription_id=good["id"])) == 4
    assert all(a["success"] for a in attempts(server, success="true"))
    assert {a["webhook_subscription_id"] for a in attempts(server, success="false")} == {bad["id"]}
    assert {a["event_type"] for a in attempts(server, event_type="message.bounced")} == {
        "message.bounced"
    }
    assert set(attempts(server, limit=1)[0]) == ATTEMPT_FIELDS
    page1 = attempts(server, limit=3)
    page2 = attempts(server, limit=3, offset=3)
    assert len(page1) == 3 and len(page2) == 3
    assert not {a["id"] for a in page1} & {a["id"] for a in page2}
    assert len(attempts(server, limit=0)) == 1, "limit is clamped to 1-200"
    assert len(attempts(server, limit=100000)) == 8


def test_deleted_subscription_gets_no_further_requests(server: Server, receiver: Receiver) -> None:
    receiver.plan("/gone", [500])
    sub = subscribe(server, receiver.url("/gone"), retry_schedule=[0, 2, 4])
    publish(server, id="evt_del")
    receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/gone"]) >= 1)
    assert server.api("DELETE", f"/webhooks/subscriptions/{sub['id']}").status_code == 204
    # cancelled is final: the retries due at 2 and 4 s are never claimed
    server.wait_states("evt_del", {"cancelled"})
    assert len(receiver.at("/gone")) == 1
    assert server.api("GET", f"/webhooks/subscriptions/{sub['id']}").status_code == 404


def test_custom_headers_and_auth_token_are_sent(server: Server, receiver: Receiver) -> None:
    sub = subscribe(
        server,
        receiver.url("/hdr"),
        headers={"X-Tenant": "acme"},
        auth_token="tok-123",
        profile="inbox",
    )
    assert sub["has_auth_token"] is True
    publish(server, id="evt_hdr")
    [req] = receiver.wait_for(lambda rs: len(rs) >= 1)
    assert req.headers["X-Tenant"] == "acme"
    assert req.headers["Authorization"] == "Bearer tok-123"
    body = json.loads(req.body)
    assert set(body) == {"id", "type", "created_at", "data"}


class _DroppingServer:
    """Raw HTTP/1.1 on loopback: answers the first request of each connection (keep-alive),
    and closes the connection unanswered when a second request arrives on it, as a server
    whose idle timeout ran out just then does."""

    def __init__(self) -> None:
        import socket
        import threading

        self.answered: list[str] = []
        self.dropped = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            conn, _ = self._sock.accept()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Any) -> None:
        buf = b""
        served = 0
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = next(
                    int(v)
                    for k, _, v in (x.partition(":") for x in lines)
                    if k.lower() == "content-length"
                )
                while len(buf) < length:
                    buf += conn.recv(65536)
                buf = buf[length:]
                event_id = next(
                    v.strip()
                    for k, _, v in (x.partition(":") for x in lines)
                    if k.lower() == "webhook-id"
                )
                if served:
                    self.dropped += 1
                    return
                served += 1
                self.answered.append(event_id)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def test_a_connection_dropped_as_the_attempt_arrives_is_sent_again_at_once(
    launcher: Launcher, database_url: str
) -> None:
    """Every kept-alive connection is closed by the server when its second request arrives:
    each such attempt went nowhere, so it goes again on a new connection, as the same
    attempt (one logged attempt per delivery, each a success)."""
    server = launcher.serve(database_url)
    dropping = _DroppingServer()
    subscribe(server, f"http://127.0.0.1:{dropping.port}/drop", max_in_flight=1)
    ids = [f"evt_dropped_{i}" for i in range(6)]
    for event_id in ids:
        publish(server, id=event_id)
    wait_attempts(server, 6)
    for event_id in ids:  # final: no attempt can follow
        server.wait_states(event_id, {"succeeded"})
    got = attempts(server)
    assert sorted(a["event_id"] for a in got) == ids
    assert all(a["response_status"] == 200 for a in got), got
    assert sorted(dropping.answered) == ids
    assert dropping.dropped >= 1, "the test never reused a connection"
