"""Isolation between endpoints and tenants (issue 21, point 1): endpoints that accept a
connection and never answer hold a small, bounded share of the worker, whatever their caps;
a subscription's cap cannot exceed the worker's; and test sends are bounded too, so one
tenant's sends to a hanging URL stall nobody else."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from conftest import TLS, Launcher, Receiver, Server, free_port

# a healthy event is delivered within a second: measured with no other test running
pytestmark = pytest.mark.serial

EVENT_TYPE = "message.delivered"


class Hanging:
    """A TCP server that accepts connections, reads what comes, and never answers."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.port = free_port()
        self.accepted = 0
        self.open = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._loop = loop
        self._writers: set[asyncio.StreamWriter] = set()

    def url(self, path: str = "/hang") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.accepted += 1
            self.open += 1
            self.peak = max(self.peak, self.open)
        self._writers.add(writer)
        try:
            while await reader.read(65536):
                pass  # never a byte back
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with self._lock:
                self.open -= 1
            self._writers.discard(writer)
            writer.close()

    def let_go(self) -> None:
        """Close every connection open now, still without an answer."""

        async def close() -> None:
            for writer in list(self._writers):
                writer.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)


@contextmanager
def hanging_server() -> Iterator[Hanging]:
    loop = asyncio.new_event_loop()
    hanging = Hanging(loop)
    started = threading.Event()
    box: dict[str, asyncio.Server] = {}

    async def start() -> None:
        box["s"] = await asyncio.start_server(hanging._handle, "127.0.0.1", hanging.port)
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    yield hanging

    async def stop() -> None:
        box["s"].close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def subscribe(server: Server | httpx.Client, url: str, **extra: Any) -> str:
    body = {"url": url, "event_types": [EVENT_TYPE], **extra}
    if isinstance(server, Server):
        resp = server.api("POST", "/webhooks/subscriptions", json=body)
    else:
        resp = server.post("/api/v1/webhooks/subscriptions", json=body)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def test_twenty_hanging_endpoints_do_not_delay_a_healthy_one(
    launcher: Launcher, database_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case of issue 21: 20 subscriptions to URLs that accept and never answer (each with
    the default cap of 16: 320 attempts, more than the worker's 256) and one healthy one, 2 s
    timeout, 50 events a second for 10 s to all 21. Every healthy event arrives within a
    second of its publish (before: 156 of 500 in 25 s, p50 9.5 s)."""
    # a latency bound on the product, not on the product under coverage's tracer: this
    # server is left out of the measured processes
    monkeypatch.delenv("COVERAGE_PROCESS_CONFIG", raising=False)
    server = launcher.serve(database_url, HOOKLINE_DELIVERY_TIMEOUT_S="2")
    with hanging_server() as hanging:
        for i in range(20):
            subscribe(server, hanging.url(f"/dead{i}"))
        subscribe(server, receiver.url("/ok"))
        published: dict[str, float] = {}
        start = time.monotonic()
        for i in range(500):
            # 50 a second, on a schedule (a slow publish does not shift the later ones)
            ahead = start + i / 50 - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            event_id = f"evt_iso_{i}"
            published[event_id] = time.time()
            resp = server.api("POST", "/events", json={"id": event_id, "type": EVENT_TYPE})
            assert resp.status_code == 202, resp.text
        got = receiver.wait_for(lambda rs: len(rs) >= 500, timeout_s=30)
        took = sorted(r.at - published[r.headers["webhook-id"]] for r in got)
        late = [
            (r.headers["webhook-id"], round(r.at - published[r.headers["webhook-id"]], 3))
            for r in got
            if r.at - published[r.headers["webhook-id"]] > 1.0
        ]
        assert sorted(r.headers["webhook-id"] for r in got) == sorted(published)
        spread = f"p50 {took[250]:.3f} s, p99 {took[495]:.3f} s, max {took[-1]:.3f} s"
        assert not late, f"{len(late)} healthy events took over a second ({spread}): {late}"
        # the hanging endpoints were tried all along, each within a slow lane's share
        assert hanging.accepted >= 40
        assert hanging.peak <= 20 * 2 + 64


def test_a_subscription_cap_above_the_workers_is_refused(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    server = launcher.serve(database_url, HOOKLINE_MAX_IN_FLIGHT="64")
    body = {"url": receiver.url("/x"), "event_types": [EVENT_TYPE], "max_in_flight": 65}
    resp = server.api("POST", "/webhooks/subscriptions", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "max_in_flight"
    assert "64" in resp.json()["errors"][0]["message"]
    sub = subscribe(server, receiver.url("/x"), max_in_flight=64)
    resp = server.api("PATCH", f"/webhooks/subscriptions/{sub}", json={"max_in_flight": 1000})
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "max_in_flight"


def _agent_client(server: Server, handle: str) -> tuple[httpx.Client, str]:
    """An agent's client, with a connection for each of 300 threads at once."""
    ident = server.api("POST", "/identities", json={"agent_handle": handle})
    assert ident.status_code == 201, ident.text
    key = server.api("POST", "/api-keys", json={"scope": "agent", "agent_handle": handle})
    assert key.status_code == 201, key.text
    client = httpx.Client(
        base_url=server.base,
        headers={"X-API-Key": key.json()["key"]},
        limits=httpx.Limits(max_connections=300),
        verify=TLS,
    )
    return client, str(ident.json()["id"])


# on SQLite: the bounds that refuse these sends are the process's own (send_limits.py); what
# PostgreSQL adds, a send sharing a subscription's cap with other processes' workers, is
# test_shared_limits.py's
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_three_hundred_test_sends_to_a_hanging_url_stall_no_other_tenant(
    launcher: Launcher, database_url: str, receiver: Receiver
) -> None:
    """One tenant fires 300 test sends at once to a URL that hangs: its subscription's cap
    of them go out, the rest are refused at once with 429 and a Retry-After; another
    tenant's test sends, and deliveries, meanwhile stay prompt."""
    # a timeout far longer than the flood takes to be answered, on a loaded machine too: the
    # sends that went out are still hanging when the last of the others is refused
    server = launcher.serve(database_url, HOOKLINE_DELIVERY_TIMEOUT_S="60")
    a, id_a = _agent_client(server, "tenant-a")
    b, id_b = _agent_client(server, "tenant-b")
    with hanging_server() as hanging, a, b:
        stuck = subscribe(a, hanging.url(), agent_identity_id=id_a)
        fine = subscribe(b, receiver.url("/fine"), agent_identity_id=id_b)
        # the organization's own (an admin's) subscription, for deliveries meanwhile
        subscribe(server, receiver.url("/org"))

        def test_send(client: httpx.Client, sub: str) -> httpx.Response:
            return client.post(
                f"/api/v1/webhooks/subscriptions/{sub}/test",
                json={"event_type": EVENT_TYPE},
                timeout=30,
            )

        with ThreadPoolExecutor(max_workers=300) as pool:
            flood = [pool.submit(test_send, a, stuck) for _ in range(300)]
            # the first sends reach the hanging URL, the others are answered (refused) at once
            deadline = time.monotonic() + 45
            while hanging.open < 16 or sum(f.done() for f in flood) < 284:
                assert time.monotonic() < deadline, f"{hanging.open} sends reached it"
                time.sleep(0.02)
            started = time.monotonic()
            own = test_send(b, fine)
            assert own.status_code == 200, own.text
            assert own.json()["response_status"] == 200
            resp = server.api("POST", "/events", json={"id": "evt_b_1", "type": EVENT_TYPE})
            assert resp.status_code == 202, resp.text
            receiver.wait_for(lambda rs: any(r.path == "/org" for r in rs))
            assert time.monotonic() - started < 1.0
            # while the sends to the hanging URL are still under way: the others were refused
            # at once, not after waiting for a slot
            assert hanging.open == 16
            hanging.let_go()
            results = [f.result() for f in flood]
    codes = [r.status_code for r in results]
    assert codes.count(429) == 284, sorted(set(codes))
    too_many = next(r for r in results if r.status_code == 429)
    assert too_many.headers["Retry-After"] == "60"
    assert "16 sends to this subscription" in too_many.json()["detail"]
    assert codes.count(200) == 16  # logged attempts, failed when the connections closed
    assert hanging.peak == 16


def test_calls_past_the_bound_get_the_fallback_at_once(
    launcher: Launcher, database_url: str
) -> None:
    """Incoming calls hold a connection like test sends, within the same bounds: here two at
    once to the number's webhook (its cap); the others are answered by the fallback at once,
    saying why, rather than waiting behind them."""
    server = launcher.serve(
        database_url,
        HOOKLINE_MAX_IN_FLIGHT_PER_SUBSCRIPTION="2",
        HOOKLINE_INCOMING_CALL_TIMEOUT_S="5",
    )
    with hanging_server() as hanging:
        server.api("POST", "/identities", json={"agent_handle": "caller"})
        server.api("POST", "/identities/caller/signing-key")
        phone = server.api(
            "POST", "/phone/numbers", json={"number": "+15557654321", "agent_handle": "caller"}
        ).json()
        body = {"incoming_call_action": "webhook", "incoming_call_webhook_url": hanging.url()}
        patched = server.api("PATCH", f"/phone/numbers/{phone['id']}", json=body)
        assert patched.status_code == 200, patched.text

        def call(n: int) -> httpx.Response:
            return server.client.post(
                f"/api/v1/phone/numbers/{phone['id']}/incoming-call",
                json={"call_id": f"call_{n}", "from": "+15551234567"},
                timeout=30,
            )

        with ThreadPoolExecutor(max_workers=6) as pool:
            calls = [pool.submit(call, n) for n in range(6)]
            deadline = time.monotonic() + 4
            while sum(f.done() for f in calls) < 4:
                assert time.monotonic() < deadline, "the calls past the bound waited"
                time.sleep(0.02)
            assert hanging.open == 2  # the two that went out are still waiting
            answers = [f.result().json() for f in calls]
    assert all(a["source"] == "fallback" for a in answers)
    bounded = [a for a in answers if "2 sends to this number's webhook" in a.get("reason", "")]
    assert len(bounded) == 4, answers
    assert hanging.peak == 2
