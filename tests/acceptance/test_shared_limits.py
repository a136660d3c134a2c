"""A subscription's limits bound the whole deployment: three worker processes on PostgreSQL
start no more attempts at once, nor in any one second, than one would."""

from __future__ import annotations

import concurrent.futures
import json
import signal
import time

import httpx

from conftest import Launcher, Proc, Receiver, Server, base_env, hookline

CAP = 2
RATE = 20
BURST = RATE  # one second's worth (core/ratelimit.py), as docs/api.md says
SECOND_S = 1.0


def _setup(launcher: Launcher, url: str, **extra: str) -> Server:
    done = launcher.run(hookline("migrate"), base_env(url, **extra))
    assert done.returncode == 0, done.stderr
    return launcher.api_only(url, **extra)


def _workers(launcher: Launcher, url: str, n: int, **extra: str) -> list[Proc]:
    """``n`` worker processes, once each has said it started."""
    procs = [launcher.worker(url, HOOKLINE_LOG_LEVEL="info", **extra) for _ in range(n)]
    deadline = time.monotonic() + 30
    while not all("worker started" in p.output() for p in procs):
        for p in procs:
            assert p.popen.poll() is None, p.output()
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.05)
    return procs


def _subscribe(server: Server, url: str, **limits: float) -> str:
    """A subscription to message.delivered at ``url``; its id."""
    resp = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": url, "event_types": ["message.delivered"], **limits},
    )
    assert resp.status_code == 201, resp.text
    sub_id: str = resp.json()["id"]
    return sub_id


def _publish(server: Server, n: int, prefix: str) -> set[str]:
    ids = [f"{prefix}_{i:04d}" for i in range(n)]
    resp = server.api(
        "POST",
        "/events/batch",
        json={"events": [{"id": i, "type": "message.delivered", "data": {}} for i in ids]},
    )
    assert resp.status_code == 202, resp.text
    return set(ids)


def _most_in_a_second(starts: list[float]) -> int:
    starts = sorted(starts)
    return max(sum(1 for s in starts[i:] if s < t + SECOND_S) for i, t in enumerate(starts))


def test_three_workers_keep_to_one_cap_and_one_rate(
    launcher: Launcher, fresh_pg_url: str, receiver: Receiver
) -> None:
    server = _setup(launcher, fresh_pg_url)
    # long enough that attempts of several workers would overlap, short enough that the
    # rate, not the cap, paces the deliveries
    receiver.delays["/limited"] = 0.05
    _subscribe(server, receiver.url("/limited"), max_in_flight=CAP, rate_limit_per_second=RATE)
    _workers(launcher, fresh_pg_url, 3)
    ids = _publish(server, 200, "evt_lim")

    received = receiver.wait_for(
        lambda rs: {json.loads(r.body)["id"] for r in rs} >= ids, timeout_s=60
    )
    assert receiver.peak["/limited"] <= CAP, f"{receiver.peak['/limited']} at once"
    most = _most_in_a_second([r.at for r in received])
    assert most <= RATE + BURST, f"{most} requests in one second"
    # and the limits did not stop the deliveries: they went at the rate, give or take
    took_s = max(r.at for r in received) - min(r.at for r in received)
    assert took_s >= (len(ids) - BURST) / RATE - SECOND_S


def test_three_workers_keep_to_one_cap_alone(
    launcher: Launcher, fresh_pg_url: str, receiver: Receiver
) -> None:
    """Without a rate, workers keep their slots from one attempt to the next (fewer requests
    to the database): still never more than the cap at once, over all of them."""
    server = _setup(launcher, fresh_pg_url)
    receiver.delays["/capped"] = 0.05
    _subscribe(server, receiver.url("/capped"), max_in_flight=CAP)
    _workers(launcher, fresh_pg_url, 3)
    ids = _publish(server, 150, "evt_cap")
    receiver.wait_for(lambda rs: {json.loads(r.body)["id"] for r in rs} >= ids, timeout_s=60)
    assert receiver.peak["/capped"] <= CAP, f"{receiver.peak['/capped']} at once"


def test_a_killed_workers_slots_come_back(
    launcher: Launcher, fresh_pg_url: str, receiver: Receiver
) -> None:
    extra = {"HOOKLINE_DELIVERY_TIMEOUT_S": "2"}
    server = _setup(launcher, fresh_pg_url, **extra)
    receiver.delays["/slow"] = 1.0  # the first worker dies holding both slots
    _subscribe(server, receiver.url("/slow"), max_in_flight=CAP)
    (first,) = _workers(launcher, fresh_pg_url, 1, **extra)
    ids = _publish(server, 6, "evt_dead")
    receiver.wait_for(lambda rs: len(rs) >= CAP, timeout_s=30)
    first.stop(signal.SIGKILL)
    assert first.popen.returncode == -signal.SIGKILL

    # the next worker gets the slots once the dead one's hold expires (its attempt timeout
    # and a margin later), and delivers everything; never more than the cap at once
    _workers(launcher, fresh_pg_url, 1, **extra)
    receiver.wait_for(lambda rs: {json.loads(r.body)["id"] for r in rs} >= ids, timeout_s=60)
    assert receiver.peak["/slow"] <= CAP


def _test_send(server: Server, sub_id: str) -> httpx.Response:
    return server.api(
        "POST",
        f"/webhooks/subscriptions/{sub_id}/test",
        json={"event_type": "message.delivered"},
    )


def test_a_test_send_from_an_api_process_shares_the_cap_with_the_workers(
    launcher: Launcher, fresh_pg_url: str, receiver: Receiver
) -> None:
    """With a cap of one, a test send made by an API process and a worker's delivery never
    go at once: each holds the subscription's one slot in the database while it runs."""
    extra = {"HOOKLINE_DELIVERY_TIMEOUT_S": "5"}
    server = _setup(launcher, fresh_pg_url, **extra)
    receiver.delays["/one"] = 1.0
    sub_id = _subscribe(server, receiver.url("/one"), max_in_flight=1)
    _workers(launcher, fresh_pg_url, 1, **extra)

    # a send under way holds the slot: the delivery published meanwhile waits for its end
    sending = concurrent.futures.ThreadPoolExecutor(1)
    sent = sending.submit(_test_send, server, sub_id)
    receiver.wait_for(lambda rs: len(rs) >= 1 or sent.done())
    assert not sent.done(), sent.result().text
    _publish(server, 1, "evt_after_send")
    receiver.wait_for(lambda rs: len(rs) >= 2, timeout_s=30)
    assert sent.result(timeout=30).status_code == 200, sent.result().text
    sending.shutdown()
    assert receiver.peak["/one"] == 1

    # a delivery under way holds it: a send meanwhile is refused, and says why
    _publish(server, 1, "evt_before_send")
    receiver.wait_for(lambda rs: len(rs) >= 3, timeout_s=30)
    refused = _test_send(server, sub_id)
    assert refused.status_code == 429, refused.text
    assert "every worker" in refused.text
    assert receiver.peak["/one"] == 1
