"""PostgreSQL stopped while attempts are under way, for less than a lease: their outcomes are
written once it is back, so nothing is sent twice and every attempt is in the log."""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Iterator

import pytest
from private_pg import PrivatePostgres, private_postgres

from conftest import Launcher, Receiver, Server

EVENTS = 200
#: the outage: well over the few seconds outcome writes used to be retried, well under the
#: 30 s lease of the default 10 s timeout
OUTAGE_S = 14.0


@pytest.fixture
def own_pg() -> Iterator[PrivatePostgres]:
    with private_postgres() as pg:
        yield pg


def _logged(server: Server, sub_id: str) -> list[str]:
    """The event id of every attempt in the log for ``sub_id``."""
    out: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"subscription_id": sub_id, "limit": 200}
        if cursor is not None:
            params["cursor"] = cursor
        page = server.api("GET", "/webhooks/deliveries", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        out += [a["event_id"] for a in body["deliveries"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return out


def _wait_all_logged(server: Server, receiver: Receiver, sub_id: str) -> None:
    """Wait until the log holds one attempt for every request the receiver got."""
    deadline = time.monotonic() + 30
    while True:
        with receiver.lock:
            counts = collections.Counter(json.loads(r.body)["id"] for r in receiver.requests)
        logged = collections.Counter(_logged(server, sub_id))
        if logged == counts:
            return
        missing = sum((counts - logged).values())
        assert time.monotonic() < deadline, f"{missing} of {counts.total()} requests not logged"
        time.sleep(0.2)


def _wait_log(server: Server, text: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in server.procs[0].output():
        assert time.monotonic() < deadline, server.procs[0].output()[-4000:]
        time.sleep(0.05)


def test_an_outage_shorter_than_the_lease_sends_nothing_twice_and_loses_no_attempt(
    launcher: Launcher, own_pg: PrivatePostgres, receiver: Receiver
) -> None:
    # the default timeout (the tests' is 3 s: a 16 s lease, which a loaded machine's restart
    # of PostgreSQL outlasts)
    server = launcher.serve(own_pg.url, HOOKLINE_LOG_LEVEL="info", HOOKLINE_DELIVERY_TIMEOUT_S="10")
    receiver.delays["/slow"] = 0.5  # attempts are under way when the database goes
    sub = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={
            "url": receiver.url("/slow"),
            "event_types": ["message.delivered"],
            "max_in_flight": 20,
        },
    )
    assert sub.status_code == 201, sub.text
    sub_id = sub.json()["id"]
    events = [{"id": f"evt_o_{i:03d}", "type": "message.delivered"} for i in range(EVENTS)]
    published = server.api("POST", "/events/batch", json={"events": events})
    assert published.status_code == 202, published.text
    receiver.wait_for(lambda rs: len(rs) >= 30)

    own_pg.stop()
    stopped = time.monotonic()
    _wait_log(server, "storage unavailable:")
    # the attempts under way end, their outcomes unwritten; the outage lasts OUTAGE_S (the
    # scenario's length, not a wait for something to happen)
    receiver.wait_for(lambda _: receiver.busy.get("/slow", 0) == 0)
    time.sleep(max(OUTAGE_S - (time.monotonic() - stopped), 0))
    during = len(receiver.requests)
    own_pg.start()

    wanted = {e["id"] for e in events}
    received = receiver.wait_for(
        lambda rs: wanted <= {json.loads(r.body)["id"] for r in rs}, timeout_s=90
    )
    counts = collections.Counter(json.loads(r.body)["id"] for r in received)
    twice = {e: n for e, n in counts.items() if n > 1}
    assert twice == {}, f"{len(twice)} deliveries sent twice ({during} requests before the restart)"

    # every request made is in the log, once its outcome is written
    _wait_all_logged(server, receiver, sub_id)
    log = server.procs[0].output()
    assert "not written within their leases" not in log, log[-4000:]
    assert "Traceback" not in log, log[-4000:]


def test_an_outage_longer_than_the_lease_still_logs_every_attempt(
    launcher: Launcher, own_pg: PrivatePostgres, receiver: Receiver
) -> None:
    """The leases run out during the outage: the deliveries may be sent again (at least
    once), but the attempts made before are logged when the database is back."""
    # a 2 s timeout makes the lease 14 s (two attempts' time and 10 s for the outcome)
    server = launcher.serve(own_pg.url, HOOKLINE_LOG_LEVEL="info", HOOKLINE_DELIVERY_TIMEOUT_S="2")
    receiver.delays["/slow"] = 0.5
    sub = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": receiver.url("/slow"), "event_types": ["message.delivered"]},
    )
    assert sub.status_code == 201, sub.text
    sub_id = sub.json()["id"]
    events = [{"id": f"evt_l_{i:03d}", "type": "message.delivered"} for i in range(60)]
    published = server.api("POST", "/events/batch", json={"events": events})
    assert published.status_code == 202, published.text
    receiver.wait_for(lambda rs: len(rs) >= 10)

    own_pg.stop()
    stopped = time.monotonic()
    receiver.wait_for(lambda _: receiver.busy.get("/slow", 0) == 0)
    # outlasting every lease taken before the stop: the outcomes cannot be written in time
    _wait_log(server, "not written within their leases", timeout_s=30)
    time.sleep(max(16.0 - (time.monotonic() - stopped), 0))
    own_pg.start()

    wanted = {e["id"] for e in events}
    received = receiver.wait_for(
        lambda rs: wanted <= {json.loads(r.body)["id"] for r in rs}, timeout_s=90
    )
    assert len(received) >= len(wanted)
    _wait_all_logged(server, receiver, sub_id)
    _wait_log(server, "attempts written to the log after their leases ran out")
