"""Disabling or deleting a subscription takes effect when the request answers: no request to
it starts afterwards, measured at a real receiver, while its workers hold deliveries of it
ready to send; the attempt that was under way finishes and is recorded as what it was."""

from __future__ import annotations

import json
import time
from typing import Any

from conftest import Launcher, Receiver, Server, base_env, hookline

SLOW_S = 0.4  # each attempt to the slow endpoint: long enough to disable during one
EVENTS = 30


def _sub(server: Server, path: str, event_type: str, receiver: Receiver) -> dict[str, Any]:
    resp = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": receiver.url(path), "event_types": [event_type], "max_in_flight": 1},
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _publish(server: Server, prefix: str, event_type: str, n: int) -> list[str]:
    events = [{"id": f"{prefix}_{i:03d}", "type": event_type} for i in range(n)]
    resp = server.api("POST", "/events/batch", json={"events": events})
    assert resp.status_code == 202, resp.text
    return [e["id"] for e in events]


def _states(server: Server, event_ids: list[str]) -> dict[str, str]:
    """Each event's delivery state (one subscription takes them)."""
    out: dict[str, str] = {}
    for eid in event_ids:
        [d] = server.api("GET", f"/events/{eid}/deliveries").json()["deliveries"]
        out[eid] = d["state"]
    return out


def _received_ids(receiver: Receiver, path: str) -> list[str]:
    return [json.loads(r.body)["id"] for r in receiver.at(path)]


def _stop_while_sending(
    server: Server, receiver: Receiver, path: str, stop: Any, *, beacon: str
) -> None:
    """With an attempt to ``path`` under way, run ``stop`` (the PATCH or DELETE); then show
    that no request to ``path`` started after it answered. The positive signal that the
    worker would have sent one by then: the attempt under way has ended, and an event for a
    healthy subscription, published after that, has arrived."""
    before = len(receiver.at(path))
    receiver.wait_for(lambda _: receiver.busy.get(path, 0) == 1 and len(receiver.at(path)) > 0)
    answer = stop()
    assert answer.status_code in (200, 204), answer.text
    answered_at = time.time()
    # the attempt under way ends; with the old behaviour its successor would start at once
    receiver.wait_for(lambda _: receiver.busy.get(path, 0) == 0, timeout_s=10)
    [sign] = _publish(server, beacon, "message.delivered", 1)
    receiver.wait_for(lambda _: sign in _received_ids(receiver, "/healthy"))
    late = [r for r in receiver.at(path) if r.at > answered_at]
    assert late == [], f"{len(late)} requests started after the answer"
    assert len(receiver.at(path)) > before


def _wait_truthful(server: Server, receiver: Receiver, events: list[str], unsent: str) -> None:
    """Each delivery the receiver got is succeeded (never to be sent again), once its
    outcome is written; every other one is ``unsent`` (held or cancelled)."""
    sent = _received_ids(receiver, "/slow")
    assert len(sent) == len(set(sent)), "a delivery was sent twice"
    deadline = time.monotonic() + 10
    while True:
        states = _states(server, events)
        want = {e: "succeeded" if e in sent else unsent for e in events}
        if states == want or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert states == want


def _check(server: Server, receiver: Receiver) -> None:
    receiver.delays["/slow"] = SLOW_S
    slow = _sub(server, "/slow", "message.sent", receiver)
    _sub(server, "/healthy", "message.delivered", receiver)
    events = _publish(server, "evt_dis", "message.sent", EVENTS)

    _stop_while_sending(
        server,
        receiver,
        "/slow",
        lambda: server.api(
            "PATCH", f"/webhooks/subscriptions/{slow['id']}", json={"enabled": False}
        ),
        beacon="evt_beacon_1",
    )
    # the attempts that were made delivered their events; the others are held for the
    # subscription's return
    _wait_truthful(server, receiver, events, "held")

    # enabled again with its held deliveries sent: then deleted while sending
    back = server.api(
        "PATCH", f"/webhooks/subscriptions/{slow['id']}", json={"enabled": True, "held": "send"}
    )
    assert back.status_code == 200, back.text
    _stop_while_sending(
        server,
        receiver,
        "/slow",
        lambda: server.api("DELETE", f"/webhooks/subscriptions/{slow['id']}"),
        beacon="evt_beacon_2",
    )
    _wait_truthful(server, receiver, events, "cancelled")


def test_disabling_and_deleting_stop_sends_when_they_answer(
    server: Server, receiver: Receiver
) -> None:
    _check(server, receiver)


def test_disabling_and_deleting_stop_other_processes_workers_when_they_answer(
    launcher: Launcher, fresh_pg_url: str, receiver: Receiver
) -> None:
    """PostgreSQL, the API in one process and two workers in others: each worker is told
    through the database, and the request waits until both have said so."""
    done = launcher.run(hookline("migrate"), base_env(fresh_pg_url))
    assert done.returncode == 0, done.stderr
    server = launcher.api_only(fresh_pg_url)
    launcher.worker(fresh_pg_url)
    launcher.worker(fresh_pg_url)
    _check(server, receiver)
