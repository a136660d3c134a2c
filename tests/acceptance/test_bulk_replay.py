"""Bulk replay as a background task, end to end on both databases: the task's answer and
progress, what the receiver gets (each matching delivery once, with its event id), and a
server killed in the middle of a task."""

from __future__ import annotations

import collections
import datetime
import json
import signal
import time
from typing import Any

from conftest import Launcher, Received, Receiver, Server

#: small batches, so that a replay of a few hundred deliveries takes many transactions
BATCH = "5"


def _now_iso(offset_s: float = 0) -> str:
    at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=offset_s)
    return at.isoformat()


def _sub(server: Server, url: str, types: list[str], **extra: Any) -> dict[str, Any]:
    resp = server.api(
        "POST", "/webhooks/subscriptions", json={"url": url, "event_types": types, **extra}
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _publish(server: Server, prefix: str, n: int, type: str = "message.sent") -> list[str]:
    ids = [f"{prefix}_{i:04d}" for i in range(n)]
    for start in range(0, n, 500):
        chunk = [{"id": i, "type": type} for i in ids[start : start + 500]]
        resp = server.api("POST", "/events/batch", json={"events": chunk})
        assert resp.status_code == 202, resp.text
    return ids


def _replay(server: Server, sub: dict[str, Any], **body: Any) -> Any:
    return server.api("POST", f"/webhooks/subscriptions/{sub['id']}/replay", json=body)


def _wait_task(server: Server, task_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        resp = server.api("GET", f"/tasks/{task_id}")
        assert resp.status_code == 200, resp.text
        task = dict(resp.json())
        if task["state"] in ("succeeded", "failed"):
            return task
        assert time.monotonic() < deadline, f"task not finished in {timeout_s} s: {task}"
        time.sleep(0.05)


def _counts(requests: list[Received], path: str) -> collections.Counter[str]:
    """How many requests to ``path`` each event id had, in ``requests`` (one snapshot)."""
    return collections.Counter(json.loads(r.body)["id"] for r in requests if r.path == path)


def _wait_logged(server: Server, sub: dict[str, Any], since: str, n: int) -> None:
    """Until ``n`` attempts are logged: their deliveries' outcomes are written with them."""
    deadline = time.monotonic() + 60
    while sum(_logged(server, sub["id"], since).values()) < n:
        assert time.monotonic() < deadline, f"fewer than {n} attempts logged"
        time.sleep(0.05)


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def test_replay_resends_each_match_once_with_its_event_id(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    server = launcher.serve(database_url, HOOKLINE_REPLAY_BATCH=BATCH)
    sub = _sub(server, receiver.url("/r"), ["message.sent", "message.delivered"])
    since = _now_iso(-1)
    sent = _publish(server, "evt_sent", 40)
    delivered = _publish(server, "evt_dlv", 10, type="message.delivered")
    receiver.wait_for(lambda rs: len(rs) >= 50, timeout_s=30)
    _wait_logged(server, sub, since, 50)
    first = {json.loads(r.body)["id"]: r for r in receiver.at("/r")}

    resp = _replay(server, sub, since=since, status="succeeded", event_types=["message.sent"])
    assert resp.status_code == 202, resp.text
    task = resp.json()
    assert resp.headers["location"] == f"/api/v1/tasks/{task['id']}"
    assert task["id"].startswith("task_") and task["kind"] == "replay"
    assert task["state"] in ("queued", "running") and task["subscription_id"] == sub["id"]
    assert task["progress"]["total"] == 40 and task["result"] is None
    assert task["params"]["status"] == "succeeded"
    assert task["params"]["event_types"] == ["message.sent"]

    # one replay at a time per subscription: the second names the first
    again = _replay(server, sub, since=since, status="succeeded")
    assert again.status_code == 409, again.text
    assert task["id"] in again.json()["detail"]

    done = _wait_task(server, task["id"])
    assert done["state"] == "succeeded", done
    assert done["result"] == {"requeued": 40, "skipped": 0}
    assert done["progress"] == {"total": 40, "requeued": 40, "skipped": 0}
    assert done["started_at"] is not None and done["finished_at"] is not None
    listed = server.api("GET", "/tasks", params={"subscription_id": sub["id"]}).json()
    assert [t["id"] for t in listed["tasks"]] == [task["id"]] and listed["has_more"] is False

    receiver.wait_for(lambda rs: len(rs) >= 90, timeout_s=30)
    # then one more event, and once it has arrived nothing else is on its way
    _publish(server, "evt_marker", 1)
    receiver.wait_for(lambda rs: any(b"evt_marker_0000" in r.body for r in rs), timeout_s=30)
    counts = _counts(receiver.at("/r"), "/r")
    assert {i: counts[i] for i in sent} == dict.fromkeys(sent, 2)
    assert {i: counts[i] for i in delivered} == dict.fromkeys(delivered, 1)
    # in the log, each re-sent event has its first attempt and then one marked as a replay
    _wait_logged(server, sub, since, 91)
    marked = _logged(server, sub["id"], since, replays=True)
    assert marked == collections.Counter(sent), marked
    # the same event id in the body and in webhook-id, as the first time
    for r in receiver.at("/r")[50:]:
        event_id = json.loads(r.body)["id"]
        if event_id in first:
            assert _header(r.headers, "webhook-id") == event_id
            assert _header(first[event_id].headers, "webhook-id") == event_id

    # a finished task frees the subscription for another
    nothing = _replay(server, sub, since=_now_iso(-1), status="failed")
    assert nothing.status_code == 202, nothing.text
    assert _wait_task(server, nothing.json()["id"])["result"] == {"requeued": 0, "skipped": 0}


def test_failed_and_held_deliveries_are_replayed(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    server = launcher.serve(database_url, HOOKLINE_REPLAY_BATCH=BATCH, HOOKLINE_RETRY_SCHEDULE="0")
    # failed: one attempt each (the schedule has one), refused by the receiver
    failing = _sub(server, receiver.url("/f"), ["message.sent"])
    receiver.plan("/f", [500] * 12 + [200])
    since = _now_iso(-1)
    failed = _publish(server, "evt_fail", 12)
    _wait_logged(server, failing, since, 12)
    task = _replay(server, failing, since=since, status="failed")
    assert task.status_code == 202, task.text
    assert _wait_task(server, task.json()["id"])["result"]["requeued"] == 12
    receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/f"]) >= 24, timeout_s=30)
    assert _counts(receiver.at("/f"), "/f") == dict.fromkeys(failed, 2)

    # held: kept while disabled, left held by enabling without `held`, then replayed
    paused = _sub(server, receiver.url("/h"), ["message.delivered"])
    off = server.api("PATCH", f"/webhooks/subscriptions/{paused['id']}", json={"enabled": False})
    assert off.status_code == 200, off.text
    refused = _replay(server, paused, since=since, status="held")
    assert refused.status_code == 409 and "disabled" in refused.json()["detail"]
    held = _publish(server, "evt_held", 7, type="message.delivered")
    on = server.api("PATCH", f"/webhooks/subscriptions/{paused['id']}", json={"enabled": True})
    assert on.status_code == 200, on.text
    task = _replay(server, paused, since=since, status="held")
    assert task.status_code == 202, task.text
    assert task.json()["progress"]["total"] == 7
    assert _wait_task(server, task.json()["id"])["result"]["requeued"] == 7
    receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/h"]) >= 7, timeout_s=30)
    assert _counts(receiver.at("/h"), "/h") == dict.fromkeys(held, 1)
    # sent before, the failed ones came back as replays; never sent, the held ones did not
    _wait_logged(server, failing, since, 24)
    assert _logged(server, failing["id"], since, replays=True) == collections.Counter(failed)
    _wait_logged(server, paused, since, 7)
    assert _logged(server, paused["id"], since, replays=True) == collections.Counter()


def test_replay_requests_are_checked(server: Server, receiver: Receiver) -> None:
    sub = _sub(server, receiver.url("/v"), ["message.sent"])
    since = _now_iso(-60)
    for body, field in (
        ({"status": "failed"}, "since"),
        ({"since": since}, "status"),
        ({"since": since, "status": "pending"}, "status"),
        ({"since": "yesterday", "status": "failed"}, "since"),
        ({"since": _now_iso(3600), "status": "failed"}, "since"),
        ({"since": since, "until": since, "status": "failed"}, "until"),
        ({"since": since, "status": "failed", "event_types": ["message.nope"]}, "event_types[0]"),
        ({"since": since, "status": "failed", "event_types": ["message.read"]}, "event_types[0]"),
        ({"since": since, "status": "failed", "event_types": []}, "event_types"),
        ({"since": since, "status": "failed", "extra": 1}, "extra"),
    ):
        resp = _replay(server, sub, **body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["errors"][0]["field"] == field, (body, resp.text)
    gone = server.api(
        "POST", "/webhooks/subscriptions/nope/replay", json={"since": since, "status": "failed"}
    )
    assert gone.status_code == 404
    assert server.api("GET", "/tasks/task_nope").status_code == 404
    assert server.api("GET", "/tasks", params={"limit": 0}).status_code == 422


def test_a_task_is_seen_only_by_who_sees_its_subscription(
    server: Server, receiver: Receiver, launcher: Launcher
) -> None:
    import httpx

    owners = {}
    for handle in ("agent-a", "agent-b"):
        made = server.api("POST", "/identities", json={"agent_handle": handle})
        assert made.status_code == 201, made.text
        owners[handle] = made.json()["id"]
    mine = _sub(server, receiver.url("/a"), ["message.sent"], agent_identity_id=owners["agent-a"])
    theirs = _sub(server, receiver.url("/b"), ["message.sent"], agent_identity_id=owners["agent-b"])
    key = server.api("POST", "/api-keys", json={"scope": "agent", "agent_handle": "agent-a"})
    assert key.status_code == 201, key.text
    agent = httpx.Client(
        base_url=server.base + "/api/v1", headers={"X-API-Key": key.json()["key"]}, timeout=30
    )
    launcher.clients.append(agent)
    body = {"since": _now_iso(-60), "status": "succeeded"}
    own = agent.post(f"/webhooks/subscriptions/{mine['id']}/replay", json=body)
    assert own.status_code == 202, own.text
    other = _replay(server, theirs, **body)
    assert other.status_code == 202, other.text
    # the agent is refused the other's subscription as if it did not exist, and its task too
    refused = agent.post(f"/webhooks/subscriptions/{theirs['id']}/replay", json=body)
    assert refused.status_code == 404
    assert agent.get(f"/tasks/{other.json()['id']}").status_code == 404
    assert agent.get(f"/tasks/{own.json()['id']}").status_code == 200
    assert [t["id"] for t in agent.get("/tasks").json()["tasks"]] == [own.json()["id"]]
    assert {t["id"] for t in server.api("GET", "/tasks").json()["tasks"]} == {
        own.json()["id"],
        other.json()["id"],
    }


def test_a_killed_server_carries_on_and_requeues_nothing_twice(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    """The server (API and worker) is SIGKILLed in the middle of a replay and started again:
    the task carries on from its last batch. Each delivery is sent, and logged, once by the
    replay: a request in flight at the kill may reach the receiver twice (delivery is at
    least once), but only one of the two is ever logged, as the dead worker logged nothing."""
    extra = {"HOOKLINE_REPLAY_BATCH": BATCH, "HOOKLINE_REPLAY_LEASE_S": "2"}
    server = launcher.serve(database_url, **extra)
    sub = _sub(server, receiver.url("/k"), ["message.sent"])
    since = _now_iso(-1)
    n = 400
    ids = _publish(server, "evt_kill", n)
    _wait_logged(server, sub, since, n)

    resp = _replay(server, sub, since=since, status="succeeded")
    assert resp.status_code == 202, resp.text
    task_id = resp.json()["id"]
    replay_started = resp.json()["created_at"]
    deadline = time.monotonic() + 30
    while True:
        task = server.api("GET", f"/tasks/{task_id}").json()
        if task["progress"]["requeued"] >= 50:
            break
        assert time.monotonic() < deadline, task
        time.sleep(0.01)
    server.procs[0].stop(signal.SIGKILL)
    assert server.procs[0].popen.returncode == -signal.SIGKILL

    again = launcher.serve(database_url, **extra)
    killed_at = again.api("GET", f"/tasks/{task_id}").json()
    assert killed_at["progress"]["requeued"] < n, "the server must die with work left to do"
    done = _wait_task(again, task_id, timeout_s=90)
    assert done["state"] == "succeeded", done
    assert done["result"] == {"requeued": n, "skipped": 0}
    # every event twice at least (its publish, its replay), counted in the one snapshot the
    # wait is given: the receiver may take more while it is being looked at
    receiver.wait_for(
        lambda rs: set(counts := _counts(rs, "/k")) >= set(ids) and min(counts.values()) >= 2,
        timeout_s=90,
    )

    deadline = time.monotonic() + 30
    while True:  # the last outcomes may be written a moment after their requests arrived
        logged = _logged(again, sub["id"], replay_started)
        if set(logged) >= set(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert logged == dict.fromkeys(ids, 1), {i: c for i, c in logged.items() if c != 1}


def _logged(
    server: Server, sub_id: str, since: str, *, replays: bool = False
) -> collections.Counter[str]:
    """The subscription's logged attempts since ``since`` (only those marked as replays, with
    ``replays``), counted by event id."""
    logged: collections.Counter[str] = collections.Counter()
    params: dict[str, Any] = {"subscription_id": sub_id, "since": since, "limit": 200}
    while True:
        page = server.api("GET", "/webhooks/deliveries", params=params).json()
        logged.update(a["event_id"] for a in page["deliveries"] if a["is_replay"] or not replays)
        if not page["has_more"]:
            return logged
        params = {**params, "cursor": page["next_cursor"]}
