"""What one endpoint may hold: per-subscription in-flight caps and rate limits, and a dead
endpoint never slowing a healthy one."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from conftest import Launcher, Received, Receiver, Server


def subscribe(server: Server, url: str, **extra: Any) -> dict[str, Any]:
    body = {"url": url, "event_types": ["message.delivered"], **extra}
    resp = server.api("POST", "/webhooks/subscriptions", json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _more_than(n: int, path: str | None = None) -> Callable[[list[Received]], bool]:
    """Whether more than ``n`` requests came (to ``path``, when given)."""
    return lambda rs: len([r for r in rs if path is None or r.path == path]) > n


def publish_batch(server: Server, prefix: str, n: int) -> None:
    events = [
        {"id": f"{prefix}_{i}", "type": "message.delivered", "data": {"n": i}} for i in range(n)
    ]
    resp = server.api("POST", "/events/batch", json={"events": events})
    assert resp.status_code == 202, resp.text


def test_rate_limit_spaces_attempts(server: Server, receiver: Receiver) -> None:
    subscribe(server, receiver.url("/limited"), rate_limit_per_second=4)
    subscribe(server, receiver.url("/free"))
    publish_batch(server, "evt_rl", 12)
    got = receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/limited"]) >= 12)
    times = sorted(r.at for r in got if r.path == "/limited")
    # a burst of 4, then one every 250 ms: the twelfth comes about 2 s after the first
    assert times[-1] - times[0] >= 1.8, times
    for t0 in times:
        assert len([t for t in times if t0 <= t < t0 + 1.0]) <= 8, times
    # an unlimited subscription is not held back: all of it came before the limited one's
    # eighth, which its rate holds back to about a second after its first
    free = sorted(r.at for r in receiver.at("/free"))
    assert len(free) == 12
    assert free[-1] < times[7], (free, times)
    assert len({r.headers["webhook-id"] for r in receiver.at("/limited")}) == 12


def test_in_flight_cap_per_subscription(server: Server, receiver: Receiver) -> None:
    receiver.delays["/capped"] = 0.4
    subscribe(server, receiver.url("/capped"), max_in_flight=2)
    publish_batch(server, "evt_cap", 8)
    receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/capped"]) >= 8)
    assert receiver.peak["/capped"] == 2


def test_a_hanging_endpoint_does_not_delay_a_healthy_one(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    server = launcher.serve(
        database_url,
        HOOKLINE_DELIVERY_TIMEOUT_S="5",
        HOOKLINE_MAX_IN_FLIGHT="8",
        HOOKLINE_MAX_IN_FLIGHT_PER_SUBSCRIPTION="4",
    )
    receiver.delays["/hang"] = 6.0  # longer than the attempt timeout
    hang = subscribe(server, receiver.url("/hang"), retry_schedule=[0])
    subscribe(server, receiver.url("/ok"))
    publish_batch(server, "evt_iso_a", 20)
    receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/hang"]) >= 2)
    publish_batch(server, "evt_iso_b", 20)
    receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/ok"]) >= 40, timeout_s=4)
    # all of them while the hanging endpoint's first attempts were still under way (an
    # attempt is logged once it ends): none waited for those to time out
    logged = server.api("GET", "/webhooks/deliveries", params={"subscription_id": hang["id"]})
    assert logged.status_code == 200, logged.text
    assert logged.json()["deliveries"] == []
    # nothing known of it yet, it holds no more than a probe's two slots, not its cap of 4
    # (pools.py); once its attempts time out, a slow lane's share
    assert receiver.peak["/hang"] == 2, "the hanging endpoint holds no more than a probe"


def test_a_full_lane_takes_what_waited_for_it_as_soon_as_a_slot_frees(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    """Single publishes to a subscription whose slots are all busy are not handed over and
    wake no claim (it would find nothing it may take); they still go out as soon as slots
    free, well before the worker's idle poll."""
    server = launcher.serve(database_url, HOOKLINE_POLL_INTERVAL_S="60")
    receiver.delays["/slow"] = 0.3
    subscribe(server, receiver.url("/slow"), max_in_flight=2)
    for i in range(6):
        resp = server.api(
            "POST", "/events", json={"id": f"evt_owed_{i}", "type": "message.delivered", "data": {}}
        )
        assert resp.status_code == 202, resp.text
    # three waves of two at 0.3 s each: a freed slot takes what is owed, where waiting for
    # the minute's poll would outlast this wait
    got = receiver.wait_for(lambda rs: len(rs) >= 6, timeout_s=20)
    assert receiver.peak["/slow"] == 2
    assert sorted(r.headers["webhook-id"] for r in got) == [f"evt_owed_{i}" for i in range(6)]


def _claims(server: Server, found: str) -> float:
    resp = server.client.get("/metrics")
    assert resp.status_code == 200, resp.text
    for line in resp.text.splitlines():
        if line.startswith(f'hookline_claims_total{{found="{found}"}}'):
            return float(line.split()[-1])
    return 0.0


def _empty_claims(server: Server) -> float:
    return _claims(server, "no")


def test_a_fan_out_wider_than_the_worker_cap_is_handed_over_whole_and_kept_under_it(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    """One event to more subscriptions than the worker may have attempts under way: the
    publish hands every delivery to the worker at once (no claim reads them back), and the
    worker starts them in turn, never more than its cap at a time."""
    server = launcher.serve(database_url, HOOKLINE_MAX_IN_FLIGHT="4")
    for i in range(12):
        receiver.delays[f"/fan{i}"] = 0.3
        subscribe(server, receiver.url(f"/fan{i}"), event_types=["message.bounced"])
    resp = server.api("POST", "/events", json={"id": "evt_fan", "type": "message.bounced"})
    assert resp.status_code == 202, resp.text
    got = receiver.wait_for(lambda rs: len(rs) >= 12, timeout_s=20)
    assert sorted(r.path for r in got) == sorted(f"/fan{i}" for i in range(12))
    # endpoints nothing is known of yet hold half of the worker at most (pools.py)
    assert receiver.all_peak == 2
    assert _claims(server, "yes") == 0


def test_a_worker_whose_attempts_are_slow_takes_only_what_it_starts_in_time(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    """The handoff holds only what the worker's slots start well within a lease at the recent
    pace of attempts: here (one slot, half-second attempts, 3 s to spare) less than the
    fan-out, whose rest is claimed as its turn comes, rather than left to outwait its lease."""
    server = launcher.serve(
        database_url, HOOKLINE_MAX_IN_FLIGHT="1", HOOKLINE_DELIVERY_TIMEOUT_S="1"
    )
    receiver.delays["/pace"] = 0.5
    subscribe(server, receiver.url("/pace"), event_types=["message.sent"])
    for i in range(450):
        subscribe(server, receiver.url(f"/many{i}"), event_types=["message.bounced"])
    for i in range(2):
        resp = server.api("POST", "/events", json={"id": f"evt_pace_{i}", "type": "message.sent"})
        assert resp.status_code == 202, resp.text
        receiver.wait_for(_more_than(i))
    resp = server.api("POST", "/events", json={"id": "evt_many", "type": "message.bounced"})
    assert resp.status_code == 202, resp.text
    got = receiver.wait_for(lambda rs: len(rs) >= 452, timeout_s=60)
    assert sorted(r.path for r in got if r.path.startswith("/many")) == sorted(
        f"/many{i}" for i in range(450)
    )
    assert _claims(server, "yes") > 0


def test_a_lane_with_a_backlog_keeps_going_while_a_fan_out_fills_the_worker(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    """A slow subscription with a backlog in the database refills its lane with claims of its
    own. While a fan-out handed over whole holds more than those claims may bring (404 here),
    the lane goes back to the general claim, which serves it once there is room: it is not
    left waiting for a refill that nothing would start."""
    server = launcher.serve(database_url, HOOKLINE_MAX_IN_FLIGHT="4")
    receiver.delays["/slow"] = 0.3
    subscribe(server, receiver.url("/slow"), event_types=["message.bounced"], max_in_flight=1)
    subscribe(server, receiver.url("/warm"), event_types=["message.sent"])
    for i in range(100):
        receiver.delays[f"/wide{i}"] = 0.02
        subscribe(server, receiver.url(f"/wide{i}"))
    backlog: list[dict[str, Any]] = [
        {"id": f"evt_slow_{i}", "type": "message.bounced", "data": {}} for i in range(20)
    ]
    resp = server.api("POST", "/events/batch", json={"events": backlog})
    assert resp.status_code == 202, resp.text
    # fast attempts first, so that the worker's pace lets it take the whole fan-out
    warm = [{"id": f"evt_warm_{i}", "type": "message.sent", "data": {}} for i in range(40)]
    resp = server.api("POST", "/events/batch", json={"events": warm})
    assert resp.status_code == 202, resp.text
    receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/warm"]) >= 40)
    publish_batch(server, "evt_wide", 10)  # 1,000 deliveries to 100 subscriptions
    got = receiver.wait_for(lambda rs: len(rs) >= 1060, timeout_s=40)
    assert sorted(r.headers["webhook-id"] for r in got if r.path == "/slow") == sorted(
        e["id"] for e in backlog
    )
    assert len([r for r in got if r.path.startswith("/wide")]) == 1000


def test_a_full_lane_behind_a_hanging_endpoint_costs_healthy_deliveries_no_claims(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    """While a hanging endpoint's lane is full, its deliveries wait in the database; the
    claims that could take them run when one of its own attempts ends, not each time a
    healthy subscription's attempt does (each such claim would be a write transaction that
    finds nothing, in the way of the healthy publishes)."""
    server = launcher.serve(
        database_url,
        HOOKLINE_DELIVERY_TIMEOUT_S="5",
        HOOKLINE_MAX_IN_FLIGHT_PER_SUBSCRIPTION="2",
        HOOKLINE_POLL_INTERVAL_S="30",
    )
    receiver.delays["/hang"] = 6.0
    subscribe(server, receiver.url("/hang"), event_types=["message.bounced"])
    subscribe(server, receiver.url("/ok"))
    events = [{"id": f"evt_hang_{i}", "type": "message.bounced", "data": {}} for i in range(12)]
    resp = server.api("POST", "/events/batch", json={"events": events})
    assert resp.status_code == 202, resp.text
    receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/hang"]) >= 2)
    _wait_for_metric(server, "hookline_deliveries_in_flight", 2, within_s=5)
    before = _empty_claims(server)
    for i in range(40):
        resp = server.api(
            "POST", "/events", json={"id": f"evt_ok_{i}", "type": "message.delivered", "data": {}}
        )
        assert resp.status_code == 202, resp.text
        receiver.wait_for(_more_than(i, "/ok"))
    # every healthy attempt has ended (only the hanging two are under way): the claims their
    # ends could have started have been counted
    for i in range(40):
        server.wait_states(f"evt_ok_{i}", {"succeeded"})
    _wait_for_metric(server, "hookline_deliveries_in_flight", 2, within_s=5)
    assert _empty_claims(server) - before < 5
    assert receiver.peak["/hang"] == 2
    # the hanging lane still gets its next deliveries when its attempts time out
    receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/hang"]) >= 4, timeout_s=15)


def _metric(server: Server, name: str) -> float:
    resp = server.client.get("/metrics")
    assert resp.status_code == 200, resp.text
    for line in resp.text.splitlines():
        if line.split()[0] == name:
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def test_metrics_count_attempts_by_result_and_the_attempts_under_way(
    server: Server, receiver: Receiver
) -> None:
    receiver.plan("/failing", [500])
    receiver.delays["/slow"] = 2.0
    subscribe(server, receiver.url("/ok"), event_types=["message.delivered"])
    subscribe(server, receiver.url("/failing"), event_types=["message.bounced"], retry_schedule=[0])
    # (a new endpoint has two attempts under way at most until one ends: pools.py)
    subscribe(server, receiver.url("/slow"), event_types=["message.sent"], max_in_flight=2)
    publish_batch(server, "evt_metrics_ok", 5)
    events = [{"id": f"evt_m_bad_{i}", "type": "message.bounced", "data": {}} for i in range(2)]
    events += [{"id": f"evt_m_slow_{i}", "type": "message.sent", "data": {}} for i in range(2)]
    resp = server.api("POST", "/events/batch", json={"events": events})
    assert resp.status_code == 202, resp.text
    receiver.wait_for(lambda rs: len(rs) >= 9)
    # the two slow ones are under way for 2 s; the others end in a moment
    _wait_for_metric(server, "hookline_deliveries_in_flight", 2, within_s=1.5)
    _wait_for_metric(server, 'hookline_attempts_total{result="success"}', 7, within_s=10)
    assert _metric(server, 'hookline_attempts_total{result="failure"}') == 2
    assert _metric(server, "hookline_attempt_seconds_count") == 9
    assert _metric(server, "hookline_deliveries_in_flight") == 0


def _wait_for_metric(server: Server, name: str, value: float, *, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while (seen := _metric(server, name)) != value:
        assert time.monotonic() < deadline, f"{name} is {seen}, not {value}"
        time.sleep(0.02)


def _execute(database_url: str, sql: str, *params: object) -> None:
    """One statement straight on Hookline's database, behind its back."""
    if database_url.startswith("sqlite"):
        import sqlite3

        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as db:
            db.execute(sql.replace("$1", "?").replace("$2", "?"), params)
            db.commit()
        return
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(sql, *params)
        finally:
            await conn.close()

    asyncio.run(run())


def test_a_delivery_that_cannot_be_prepared_holds_no_slot_and_stops_no_one(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    """A subscription row this version cannot send (a profile it does not know, as a newer
    version might write) fails its own attempts, logged, and nobody else's: the deliveries
    claimed with it still go out."""
    server = launcher.serve(database_url)
    bad = subscribe(server, receiver.url("/bad"), event_types=["message.bounced"], max_in_flight=1)
    subscribe(server, receiver.url("/ok"), event_types=["message.delivered"], max_in_flight=1)
    _execute(
        database_url, "UPDATE subscriptions SET profile = $1 WHERE id = $2", "later", bad["id"]
    )
    events = [{"id": f"evt_bad_{i}", "type": "message.bounced", "data": {}} for i in range(4)]
    events += [{"id": f"evt_fine_{i}", "type": "message.delivered", "data": {}} for i in range(6)]
    resp = server.api("POST", "/events/batch", json={"events": events})
    assert resp.status_code == 202, resp.text
    got = receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/ok"]) >= 6)
    assert sorted(r.headers["webhook-id"] for r in got if r.path == "/ok") == [
        f"evt_fine_{i}" for i in range(6)
    ]
    # what the claims read of the bad subscription (with the fine ones) never went out (the
    # one handed over at publish, from the routing cache's copy, may have), and the process
    # lives on: once no attempt is under way, none of them can still be on its way
    _wait_for_metric(server, "hookline_deliveries_in_flight", 0, within_s=5)
    assert len(receiver.at("/bad")) <= 1
    assert server.api("GET", "/webhooks/subscriptions").status_code == 200
