"""Separate API and worker processes on PostgreSQL: crash safety and exclusive claims."""

from __future__ import annotations

import asyncio
import collections
import json
import signal
import time
from typing import Any

import asyncpg
import httpx

from conftest import Launcher, Receiver, Server, base_env, hookline


def _setup_pg(launcher: Launcher, url: str, **extra: str) -> Server:
    done = launcher.run(hookline("migrate"), base_env(url, **extra))
    assert done.returncode == 0, done.stderr
    return launcher.api_only(url, **extra)


def _publish_many(server: Server, n: int, prefix: str, fanout: int = 1) -> list[str]:
    ids = [f"{prefix}_{i:05d}" for i in range(n)]
    for start in range(0, n, 500):
        chunk = ids[start : start + 500]
        resp = server.api(
            "POST",
            "/events/batch",
            json={
                "events": [{"id": i, "type": "message.delivered", "data": {"n": i}} for i in chunk]
            },
        )
        assert resp.status_code == 202, resp.text
        assert all(e["deliveries"] == fanout for e in resp.json()["events"])
    return ids


def _ids(received: list[Any]) -> collections.Counter[str]:
    return collections.Counter(json.loads(r.body)["id"] for r in received)


def test_api_and_worker_refuse_an_unmigrated_database(
    launcher: Launcher, fresh_pg_url: str
) -> None:
    done = launcher.run(hookline("worker"), base_env(fresh_pg_url))
    assert done.returncode == 1
    assert "hookline migrate" in done.stderr


def test_sigkilled_worker_loses_nothing(
    launcher: Launcher, fresh_pg_url: str, receiver: Receiver
) -> None:
    extra = {"HOOKLINE_DELIVERY_TIMEOUT_S": "2"}
    server = _setup_pg(launcher, fresh_pg_url, **extra)
    receiver.delays["/slow"] = 0.5  # keeps deliveries in flight when the worker dies
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
    ids = _publish_many(server, 200, "evt_crash")

    first = launcher.worker(fresh_pg_url, **extra)
    receiver.wait_for(lambda rs: len(rs) >= 30, timeout_s=30)
    first.stop(signal.SIGKILL)
    assert first.popen.returncode == -signal.SIGKILL
    seen_at_kill = len(receiver.requests)
    assert seen_at_kill < len(ids), "the worker must die with work left to do"

    launcher.worker(fresh_pg_url, **extra)
    received = receiver.wait_for(lambda rs: set(_ids(rs)) >= set(ids), timeout_s=90)
    counts = _ids(received)
    assert set(counts) == set(ids), "every event reached the receiver at least once"
    # only attempts whose outcome was not yet written may be sent twice: those in flight at
    # the kill (at most max_in_flight) and those answered within the last outcome flush
    # window, which may hold one more wave of max_in_flight
    assert sum(counts.values()) - len(ids) <= 2 * 20


def test_two_workers_never_send_the_same_delivery_twice(
    launcher: Launcher, fresh_pg_url: str, receiver: Receiver
) -> None:
    server = _setup_pg(launcher, fresh_pg_url)
    for path in ("/a", "/b", "/c"):
        resp = server.api(
            "POST",
            "/webhooks/subscriptions",
            json={"url": receiver.url(path), "event_types": ["message.delivered"]},
        )
        assert resp.status_code == 201
    launcher.worker(fresh_pg_url)
    launcher.worker(fresh_pg_url)
    ids = _publish_many(server, 400, "evt_pair", fanout=3)
    received = receiver.wait_for(lambda rs: len(rs) >= 3 * len(ids), timeout_s=90)
    time.sleep(1.0)
    per_path = {p: _ids([r for r in receiver.requests if r.path == p]) for p in ("/a", "/b", "/c")}
    for path, counts in per_path.items():
        assert set(counts) == set(ids), path
        dupes = {k: v for k, v in counts.items() if v > 1}
        assert not dupes, f"{path} got duplicates: {list(dupes)[:5]}"
    assert len(received) == 3 * len(ids)
    logged = server.api("GET", "/webhooks/deliveries", params={"limit": 1000}).json()["deliveries"]
    assert len(logged) == 200, "limit is clamped to 200"
    assert all(a["success"] for a in logged)


def test_the_api_keeps_to_its_connection_pool(launcher: Launcher, fresh_pg_url: str) -> None:
    """HOOKLINE_DATABASE_POOL_SIZE bounds the connections one process opens: at most the pool
    and as many again, however many publishes come at once, besides the one that listens for
    configuration changes (an API process's cache, cached_reads.py); every publish lands."""
    server = _setup_pg(launcher, fresh_pg_url, HOOKLINE_DATABASE_POOL_SIZE="2")
    database = fresh_pg_url.rsplit("/", 1)[1]
    peak = 0

    async def load() -> None:
        nonlocal peak
        admin = await asyncpg.connect(fresh_pg_url.rsplit("/", 1)[0] + "/postgres")
        async with httpx.AsyncClient(base_url=server.base, headers=server.client.headers) as c:

            async def publish(i: int) -> None:
                body = {"id": f"evt_pool_{i}", "type": "message.delivered", "data": {}}
                resp = await c.post("/api/v1/events", json=body, timeout=30)
                assert resp.status_code == 202, resp.text

            async def watch(done: asyncio.Event) -> None:
                nonlocal peak
                while not done.is_set():
                    n = await admin.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database
                    )
                    peak = max(peak, n)
                    await asyncio.sleep(0.01)

            done = asyncio.Event()
            watcher = asyncio.create_task(watch(done))
            for wave in range(5):
                await asyncio.gather(*(publish(wave * 40 + i) for i in range(40)))
            done.set()
            await watcher
        await admin.close()

    asyncio.run(load())
    assert 1 <= peak <= 2 * 2 + 1, peak
    for i in (0, 77, 199):
        assert server.api("GET", f"/events/evt_pool_{i}").status_code == 200


def test_api_processes_hear_each_others_configuration_changes(
    launcher: Launcher, fresh_pg_url: str, receiver: Receiver
) -> None:
    """Each API process serves keys and routing from memory; a change made through another
    reaches it when the change's notification does, in practice within milliseconds
    (test_pg_configuration_cache.py times the mechanism). Nothing else renews those caches,
    so a change seen at all was heard."""
    a = _setup_pg(launcher, fresh_pg_url)
    b = launcher.api_only(fresh_pg_url)
    # b has routed and authenticated before the changes: its cache holds the old answers
    warm = {"id": "evt_warm", "type": "message.delivered", "data": {}}
    assert b.api("POST", "/events", json=warm).json()["deliveries"] == 0

    sub = a.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": receiver.url("/x"), "event_types": ["message.delivered"]},
    )
    assert sub.status_code == 201, sub.text
    _eventually(
        lambda n: (
            b.api(
                "POST",
                "/events",
                json={"id": f"evt_x_{n}", "type": "message.delivered", "data": {}},
            ).json()["deliveries"]
            == 1
        )
    )

    made = a.api("POST", "/api-keys", json={"scope": "admin", "name": "short-lived"})
    assert made.status_code == 201, made.text
    key = {"X-API-Key": made.json()["key"]}
    assert b.client.get("/api/v1/api-keys", headers=key).status_code == 200
    assert a.api("DELETE", f"/api-keys/{made.json()['id']}").status_code == 204
    _eventually(lambda _: b.client.get("/api/v1/api-keys", headers=key).status_code == 401)


def _eventually(check: Any, within_s: float = 5.0) -> None:
    started = time.monotonic()
    n = 0
    while not check(n):
        n += 1
        assert time.monotonic() - started < within_s, "not seen in time"
        time.sleep(0.01)
