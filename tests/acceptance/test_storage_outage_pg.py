"""PostgreSQL stopped under load: 503 with Retry-After, never 500, nothing acknowledged lost,
one log line each way, and everything back by itself when the server is."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from private_pg import PrivatePostgres, private_postgres

from conftest import ADMIN_KEY, Launcher, Receiver, Server

PUBLISHERS = 3
ANSWER_BOUND_S = 8.0  # no request may hang longer than this during the outage


@pytest.fixture
def own_pg() -> Iterator[PrivatePostgres]:
    with private_postgres() as pg:
        yield pg


@dataclass
class Publishers:
    """A few threads publishing one event at a time, recording every answer."""

    base: str
    stop: threading.Event = field(default_factory=threading.Event)
    answers: list[tuple[str, int, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for n in range(PUBLISHERS):
            t = threading.Thread(target=self._run, args=(n,), daemon=True)
            t.start()
            self.threads.append(t)

    def _run(self, n: int) -> None:
        with httpx.Client(
            base_url=self.base, headers={"X-API-Key": ADMIN_KEY}, timeout=ANSWER_BOUND_S
        ) as client:
            i = 0
            while not self.stop.is_set():
                event_id = f"evt_out_{n}_{i:05d}"
                i += 1
                try:
                    resp = client.post(
                        "/api/v1/events",
                        json={"id": event_id, "type": "message.delivered", "data": {"i": i}},
                    )
                    status, retry_after = resp.status_code, resp.headers.get("retry-after")
                except httpx.TransportError:  # a request that hung is one of these
                    status, retry_after = -1, None
                with self.lock:
                    self.answers.append((event_id, status, retry_after))
                if status == 503:
                    time.sleep(0.05)  # as a client told to come back would

    def count(self, status: int) -> int:
        with self.lock:
            return sum(1 for a in self.answers if a[1] == status)

    def wait_for(self, status: int, more_than: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.count(status) <= more_than:
            assert time.monotonic() < deadline, f"no {status} answer; got {self.statuses()}"
            time.sleep(0.02)

    def statuses(self) -> dict[int, int]:
        with self.lock:
            out: dict[int, int] = {}
            for a in self.answers:
                out[a[1]] = out.get(a[1], 0) + 1
            return out

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)


def _wait_readyz(server: Server, status: int, timeout_s: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        resp = server.client.get("/readyz")
        if resp.status_code == status:
            return resp
        assert time.monotonic() < deadline, f"/readyz stayed {resp.status_code}"
        time.sleep(0.05)


def test_postgres_outage_under_load(
    launcher: Launcher, own_pg: PrivatePostgres, receiver: Receiver
) -> None:
    server = launcher.serve(own_pg.url, HOOKLINE_LOG_LEVEL="info")
    sub = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": receiver.url("/out"), "event_types": ["message.delivered"]},
    )
    assert sub.status_code == 201, sub.text

    pubs = Publishers(server.base)
    pubs.start()
    try:
        pubs.wait_for(202, more_than=20)
        own_pg.stop()
        pubs.wait_for(503, more_than=10)
        down = _wait_readyz(server, 503)
        assert down.headers["retry-after"] == "5"
        # the console, too: a plain page with 503 (its session lookup needs the database)
        page = server.client.get(
            "/console/webhooks", headers={"Cookie": "hookline_session=whatever"}
        )
        assert page.status_code == 503, page.status_code
        assert page.headers["retry-after"] == "5"
        assert "text/html" in page.headers["content-type"]
        own_pg.start()
        _wait_readyz(server, 200)
        after = pubs.count(202)
        pubs.wait_for(202, more_than=after + 20)
    finally:
        pubs.finish()

    statuses = pubs.statuses()
    assert set(statuses) <= {202, 503}, statuses  # -1: no answer within ANSWER_BOUND_S
    with pubs.lock:
        answers = list(pubs.answers)
    assert all(a[2] == "5" for a in answers if a[1] == 503), "every 503 says Retry-After: 5"
    acked = {a[0] for a in answers if a[1] == 202}
    received = receiver.wait_for(
        lambda rs: acked <= {json.loads(r.body)["id"] for r in rs}, timeout_s=60
    )
    assert acked <= {json.loads(r.body)["id"] for r in received}

    deadline = time.monotonic() + 15
    while "storage available again" not in (log := server.procs[0].output()):
        assert time.monotonic() < deadline, log[-4000:]
        time.sleep(0.05)
    assert log.count("storage unavailable:") == 1, log[-4000:]
    assert log.count("storage available again") == 1, log[-4000:]
    assert "Traceback" not in log, log[-4000:]


def test_a_worker_waits_out_an_outage(
    launcher: Launcher, own_pg: PrivatePostgres, receiver: Receiver
) -> None:
    server = launcher.serve(own_pg.url)  # migrates; its own worker is not the one tested
    server.procs[0].stop()
    server = launcher.api_only(own_pg.url)
    receiver.delays["/slow"] = 0.2  # attempts under way when the database goes
    sub = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": receiver.url("/slow"), "event_types": ["message.delivered"]},
    )
    assert sub.status_code == 201, sub.text
    events = [{"id": f"evt_w_{i:03d}", "type": "message.delivered", "data": {}} for i in range(120)]
    published = server.api("POST", "/events/batch", json={"events": events})
    assert published.status_code == 202, published.text
    worker = launcher.worker(own_pg.url, HOOKLINE_LOG_LEVEL="info")
    receiver.wait_for(lambda rs: len(rs) >= 10, timeout_s=30)
    own_pg.stop()
    deadline = time.monotonic() + 30
    while "storage unavailable:" not in worker.output():
        assert time.monotonic() < deadline, worker.output()
        time.sleep(0.05)
    own_pg.start()
    wanted = {e["id"] for e in events}
    receiver.wait_for(lambda rs: wanted <= {json.loads(r.body)["id"] for r in rs}, timeout_s=90)
    assert worker.popen.poll() is None, "the worker is still running"
    deadline = time.monotonic() + 15
    while "storage available again" not in (log := worker.output()):
        assert time.monotonic() < deadline, log[-4000:]
        time.sleep(0.05)
    assert log.count("storage unavailable:") == 1, log[-4000:]
    assert "Traceback" not in log, log[-4000:]
