"""Disabling or deleting a subscription takes effect when the request answers: no request to
it starts afterwards, measured at a real receiver, while its workers hold deliveries of it
ready to send; the attempt that was under way finishes and is recorded as what it was."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from conftest import Launcher, Proc, Receiver, Server, base_env, hookline

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


async def _pg_fetch(url: str, sql: str, *args: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


@pytest.fixture
def worker_role(pg_admin_url: str) -> Iterator[str]:
    """A login role of its own for the worker, so that its re-connections can be refused
    while the API's go on. Requested before the launcher, it is dropped after the worker."""
    role = "hookline_w_" + secrets.token_hex(4)

    def sql(text: str, *args: str) -> list[asyncpg.Record]:
        return asyncio.run(_pg_fetch(pg_admin_url, text, *args))

    sql(f'CREATE ROLE "{role}" SUPERUSER LOGIN')
    try:
        yield role
    finally:
        sql(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = $1",
            role,
        )
        sql(f'DROP ROLE IF EXISTS "{role}"')


def test_a_worker_that_cannot_hear_revocations_sends_nothing(
    worker_role: str, pg_admin_url: str, launcher: Launcher, fresh_pg_url: str, receiver: Receiver
) -> None:
    """PostgreSQL: the worker's listening connection is lost, and it cannot re-connect (its
    role refused logins), when the subscription is disabled: the request does not find it
    listening and answers at once. The worker sends nothing while it cannot hear, though its
    lanes hold the subscription's deliveries; once it hears again, it sends on, but none of
    them (the positive signal: a later event to a healthy subscription arrives)."""
    done = launcher.run(hookline("migrate"), base_env(fresh_pg_url))
    assert done.returncode == 0, done.stderr
    server = launcher.api_only(fresh_pg_url)
    launcher.worker(fresh_pg_url.replace("//postgres@", f"//{worker_role}@", 1))
    receiver.delays["/slow"] = SLOW_S
    slow = _sub(server, "/slow", "message.sent", receiver)
    _sub(server, "/healthy", "message.delivered", receiver)
    [first] = _publish(server, "evt_first", "message.delivered", 1)
    receiver.wait_for(lambda _: first in _received_ids(receiver, "/healthy"))
    events = _publish(server, "evt_deaf", "message.sent", EVENTS)
    receiver.wait_for(lambda _: receiver.busy.get("/slow", 0) == 1)

    asyncio.run(_pg_fetch(pg_admin_url, f'ALTER ROLE "{worker_role}" NOLOGIN'))
    try:
        killed = asyncio.run(
            _pg_fetch(
                pg_admin_url,
                # this test's worker only: the database cluster is shared
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                "WHERE application_name LIKE 'hookline-worker%' AND usename = $1",
                worker_role,
            )
        )
        assert len(killed) == 1
        answer = server.api(
            "PATCH", f"/webhooks/subscriptions/{slow['id']}", json={"enabled": False}
        )
        assert answer.status_code == 200, answer.text
        answered_at = time.time()
        # the attempt under way ends; a worker that does not know it cannot hear would start
        # the next of its lane at once
        receiver.wait_for(lambda _: receiver.busy.get("/slow", 0) == 0, timeout_s=10)
        [during] = _publish(server, "evt_during", "message.delivered", 1)
    finally:
        asyncio.run(_pg_fetch(pg_admin_url, f'ALTER ROLE "{worker_role}" LOGIN'))
    # heard again (its listener re-connects within a second or so): it delivers again
    receiver.wait_for(lambda _: during in _received_ids(receiver, "/healthy"), timeout_s=20)
    late = [r for r in receiver.at("/slow") if r.at > answered_at]
    assert late == [], f"{len(late)} requests started after the answer"
    _wait_truthful(server, receiver, events, "held")


def _stop_between_transactions(proc: Proc, role: str, pg_admin_url: str) -> None:
    """SIGSTOP the worker, but not within a database transaction of its own: its row locks
    would hold the disabling request up for as long as it is stopped (see docs/api.md)."""
    busy_sql = "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND state <> 'idle'"
    deadline = time.monotonic() + 20
    while True:
        proc.popen.send_signal(signal.SIGSTOP)
        [[busy]] = asyncio.run(_pg_fetch(pg_admin_url, busy_sql, role))
        if busy == 0:
            return
        proc.popen.send_signal(signal.SIGCONT)
        assert time.monotonic() < deadline, "the worker was never stopped between transactions"
        time.sleep(0.01)  # let it run on a moment (a pause between tries, not a wait)


def test_a_worker_stopped_while_disabling_sends_nothing_once_it_runs_again(
    worker_role: str, pg_admin_url: str, launcher: Launcher, fresh_pg_url: str, receiver: Receiver
) -> None:
    """PostgreSQL: the worker is stopped (SIGSTOP), its listening connection still open,
    while it sends a rate-limited subscription's deliveries: the disabling request waits for
    its answer in vain, and answers after a few seconds. Running again, the worker is woken
    first by the timer of the lane's next attempt, before the revocation reaches it: it
    starts none of the deliveries it held (the positive signal: a later event to a healthy
    subscription arrives)."""
    done = launcher.run(hookline("migrate"), base_env(fresh_pg_url))
    assert done.returncode == 0, done.stderr
    server = launcher.api_only(fresh_pg_url)
    worker = launcher.worker(fresh_pg_url.replace("//postgres@", f"//{worker_role}@", 1))
    resp = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={
            "url": receiver.url("/slow"),
            "event_types": ["message.sent"],
            "rate_limit_per_second": 2,
        },
    )
    assert resp.status_code == 201, resp.text
    slow = resp.json()
    _sub(server, "/healthy", "message.delivered", receiver)
    events = _publish(server, "evt_stop", "message.sent", EVENTS)
    receiver.wait_for(lambda _: len(receiver.at("/slow")) >= 2)

    _stop_between_transactions(worker, worker_role, pg_admin_url)
    try:
        answer = server.api(
            "PATCH", f"/webhooks/subscriptions/{slow['id']}", json={"enabled": False}
        )
        assert answer.status_code == 200, answer.text
        answered_at = time.time()
    finally:
        worker.popen.send_signal(signal.SIGCONT)
    [after] = _publish(server, "evt_after", "message.delivered", 1)
    receiver.wait_for(lambda _: after in _received_ids(receiver, "/healthy"))
    late = [r for r in receiver.at("/slow") if r.at > answered_at]
    assert late == [], f"{len(late)} requests started after the answer"
    _wait_truthful(server, receiver, events, "held")
