"""Pull subscriptions over the API, on the running server: create, pull (long poll), ack,
release, and what the workers leave alone."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from conftest import Launcher, Server
from hookline_sdk import verify

S = "/webhooks/subscriptions"


@pytest.fixture
def server(tidy_shared_server: Server) -> Server:
    """The module's server: each test publishes events of its own ids to a subscription it
    made after the others' were deleted, so it pulls only its own."""
    return tidy_shared_server


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json() if resp.content else None


def make_pull(server: Server, **fields: Any) -> dict[str, Any]:
    body = {"mode": "pull", "event_types": ["message.received"], **fields}
    return dict(ok(server.api("POST", S, json=body), 201))


def publish(server: Server, event_id: str) -> None:
    body = {"id": event_id, "type": "message.received", "data": {"message_id": event_id}}
    ok(server.api("POST", "/events", json=body), 202)


def pull(server: Server, sub_id: str, **body: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(server.api("POST", f"{S}/{sub_id}/pull", json=body))[
        "deliveries"
    ]
    return found


def ack(server: Server, sub_id: str, *results: dict[str, Any]) -> list[dict[str, Any]]:
    answered: list[dict[str, Any]] = ok(
        server.api("POST", f"{S}/{sub_id}/ack", json={"results": list(results)})
    )["results"]
    return answered


def test_mode_and_url_rules(server: Server) -> None:
    sub = make_pull(server)
    assert (sub["mode"], sub["url"]) == ("pull", None)
    assert ok(server.api("GET", f"{S}/{sub['id']}"))["mode"] == "pull"
    push = ok(
        server.api("POST", S, json={"url": "https://a.example.com", "event_types": ["call.ended"]}),
        201,
    )
    assert push["mode"] == "push"

    with_url = {"mode": "pull", "url": "https://a.example.com", "event_types": ["call.ended"]}
    without = {"event_types": ["call.ended"]}
    for body, field in ((with_url, "url"), (without, "url"), ({**without, "mode": "x"}, "mode")):
        resp = server.api("POST", S, json=body)
        assert resp.status_code == 422, resp.text
        assert field in {e["field"] for e in resp.json()["errors"]}, resp.text
    resp = server.api("PATCH", f"{S}/{sub['id']}", json={"url": "https://a.example.com"})
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "url"
    # a push subscription has nothing to pull; a pull one is sent nothing
    assert server.api("POST", f"{S}/{push['id']}/pull", json={}).status_code == 409
    test_send = {"event_type": "message.received"}
    assert server.api("POST", f"{S}/{sub['id']}/test", json=test_send).status_code == 409
    for bad in ({"max": 0}, {"max": 101}, {"wait_s": 31}, {"wait_s": -1}):
        assert server.api("POST", f"{S}/{sub['id']}/pull", json=bad).status_code == 422, bad


def test_pull_ack_retry_and_stale_lease(server: Server) -> None:
    sub = make_pull(server)
    publish(server, "evt_pull_1")

    [got] = pull(server, sub["id"], max=10)
    assert (got["event_id"], got["attempt"]) == ("evt_pull_1", 1)
    # signed as the profile would POST it
    assert verify("standard", sub["secret"], got["body"].encode(), got["headers"])["id"] == (
        "evt_pull_1"
    )
    assert pull(server, sub["id"]) == []  # leased: no one else gets it

    # a failure follows the retry schedule (0, 1, 2 s in these tests)
    [res] = ack(server, sub["id"], {**_lease(got), "status": 500, "body": "boom"})
    assert res == {"delivery_id": got["delivery_id"], "recorded": True, "status": 200}
    again = _pull_until(server, sub["id"])
    assert (again["delivery_id"], again["attempt"]) == (got["delivery_id"], 2)

    # the old lease is stale now: refused, nothing changes
    [stale] = ack(server, sub["id"], {**_lease(got), "status": 200})
    assert (stale["recorded"], stale["status"]) == (False, 409)
    [done] = ack(server, sub["id"], {**_lease(again), "status": 204})
    assert done["recorded"] is True
    [twice] = ack(server, sub["id"], {**_lease(again), "status": 204})
    assert twice["status"] == 409

    log = ok(server.api("GET", "/webhooks/deliveries", params={"event_id": "evt_pull_1"}))
    statuses = sorted(a["response_status"] for a in log["deliveries"])
    assert statuses == [204, 500], log


def test_release_hands_back_at_once(server: Server) -> None:
    sub = make_pull(server)
    publish(server, "evt_pull_r")
    [got] = pull(server, sub["id"])

    ok(server.api("POST", f"{S}/{sub['id']}/release", json={"leases": [_lease(got)]}), 204)

    [again] = pull(server, sub["id"])
    assert (again["delivery_id"], again["attempt"]) == (got["delivery_id"], 1)
    [stale] = ack(server, sub["id"], {**_lease(got), "status": 200})
    assert stale["status"] == 409


def _wait_until_a_pull_waits(server: Server, timeout_s: float = 15.0) -> None:
    """Until the server's ``hookline_pulls_waiting`` gauge shows a waiting pull."""
    deadline = time.monotonic() + timeout_s
    while True:
        resp = server.client.get("/metrics")
        assert resp.status_code == 200, resp.text
        if "hookline_pulls_waiting 1.0" in resp.text.splitlines():
            return
        assert time.monotonic() < deadline, "no pull is waiting"
        time.sleep(0.02)


def _answer_after_publish(puller: Server, publisher: Server) -> float:
    """Seconds from a publish (on ``publisher``) to the answer of a pull waiting on
    ``puller``, which got that event."""
    sub = make_pull(puller)
    answer: dict[str, Any] = {}

    def wait() -> None:
        answer["found"] = pull(puller, sub["id"], wait_s=20)
        answer["at"] = time.monotonic()

    waiter = threading.Thread(target=wait)
    waiter.start()
    # the pull waits before the publish (else it would find the event without a wake-up)
    _wait_until_a_pull_waits(puller)
    published = time.monotonic()
    publish(publisher, "evt_pull_w")
    waiter.join(30)
    assert [d["event_id"] for d in answer["found"]] == ["evt_pull_w"]
    return float(answer["at"] - published)


def test_a_waiting_pull_is_woken_by_a_publish(launcher: Launcher, sqlite_url: str) -> None:
    server = launcher.serve(sqlite_url)
    # well within the pull's own look again (pulls.RECHECK_S)
    assert _answer_after_publish(server, server) < 3


def test_a_pull_is_woken_by_another_process_publish(launcher: Launcher, fresh_pg_url: str) -> None:
    first = launcher.serve(fresh_pg_url)
    second = launcher.api_only(fresh_pg_url)
    assert _answer_after_publish(first, second) < 3


def _lease(pulled: dict[str, Any]) -> dict[str, Any]:
    return {"delivery_id": pulled["delivery_id"], "lease": pulled["lease"]}


def _pull_until(server: Server, sub_id: str) -> dict[str, Any]:
    """The next delivery to fall due, waiting on the server (a retry is due within 2 s)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = pull(server, sub_id, wait_s=5)
        if found:
            return found[0]
    raise AssertionError("nothing fell due")
