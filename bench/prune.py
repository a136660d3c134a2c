"""What pruning costs live traffic: ``python -m bench.prune``.

On each database, twice on the same seeded history (``--attempts`` old attempts, two per
delivery, one delivery per event, all succeeded 40 days ago): once with retention off
(``HOOKLINE_RETENTION_DAYS=0``), once with the default 30 days, so that the worker prunes the
whole history from its start. Meanwhile the benchmark publishes as fast as Hookline takes it
to one subscription of a counting receiver, and counts the deliveries received in a window
of ``--window-s`` seconds. The figure is the pruning run's deliveries/s against the other's;
``--pairs`` runs the two that many times, retention off first in one pair and pruning first in
the next (the machine's speed moves between runs).

    python -m bench.prune [--db sqlite|postgresql|both] [--attempts 1000000] [--window-s 30]
                          [--pairs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

from bench.api_client import Api, event
from bench.hookline_proc import DbKind, Hookline, fresh_database
from bench.system import free_port

DAY_MS = 86_400_000
ORG = "org_bench_prune_0000001"
BATCH = 100  # events per publish
LANES = 4  # publishes under way at once
WARM_UP_S = 3.0  # publishing before the window opens


@dataclass
class Run:
    db: DbKind
    retention_days: int
    deliveries_per_s: float
    attempts_before: int
    attempts_after: int
    #: from Hookline's start to the window's end: the old attempts pruned meanwhile, per second
    pruned_per_s: float
    #: the machine's 1-minute load average at the window's end
    load: float


class Counter:
    """A receiver answering 200 to every POST, counting them."""

    def __init__(self) -> None:
        self.count = 0
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    async def _hit(self, request: web.Request) -> web.Response:
        await request.read()
        self.count += 1
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._hit)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _seed_sql(kind: DbKind, events: int, old_ms: int) -> list[str]:
    """Statements that write the old history: an organization (the default), a deleted
    subscription, ``events`` events with a succeeded delivery and two attempts each."""
    if kind == "sqlite":
        series = (
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
            f"WHERE i < {events - 1})"
        )
        src, true, false = "n", "1", "0"
    else:
        series = f"WITH n(i) AS (SELECT generate_series(0, {events - 1}))"
        src, true, false = "n", "true", "false"
    payload = "'" + '{"id":"evt","type":"message.sent","data":{"note":"' + "x" * 150 + '"}}' + "'"
    return [
        f"INSERT INTO organizations (id, name, is_default, created_ms) "
        f"VALUES ('{ORG}', 'bench', {true}, {old_ms})",
        "INSERT INTO subscriptions (id, organization_id, url, event_types, enabled, profile, "
        "headers, domains, source, created_ms, updated_ms, deleted_ms) VALUES ('sub_old', "
        f"'{ORG}', 'http://127.0.0.1:9/', '[]', {false}, 'standard', '{{}}', '[]', 'api', "
        f"{old_ms}, {old_ms}, {old_ms})",
        f"{series} INSERT INTO events (organization_id, id, type, data, occurred_ms, created_ms) "
        f"SELECT '{ORG}', 'evt_old_' || i, 'message.sent', '{{\"n\":1}}', {old_ms}, {old_ms} "
        f"FROM {src}",
        f"{series} INSERT INTO deliveries (id, organization_id, event_id, subscription_id, state, "
        "attempts, created_ms, updated_ms) "
        f"SELECT 'dlv_old_' || i, '{ORG}', 'evt_old_' || i, 'sub_old', 'succeeded', 2, "
        f"{old_ms}, {old_ms} FROM {src}",
        *(
            f"{series} INSERT INTO attempts (id, organization_id, delivery_id, subscription_id, "
            "event_id, event_type, url, request_payload, response_status, duration_ms, "
            "is_replay, replayable, success, created_ms) "
            f"SELECT 'att_old_{k}_' || i, '{ORG}', 'dlv_old_' || i, 'sub_old', 'evt_old_' || i, "
            f"'message.sent', 'http://127.0.0.1:9/', {payload}, 200, 3, {false}, {true}, "
            f"{true}, {old_ms} FROM {src}"
            for k in (0, 1)
        ),
    ]


async def _execute(kind: DbKind, url: str, statements: list[str]) -> list[Any]:
    if kind == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            return [conn.execute(s).fetchall() for s in statements]
        finally:
            conn.close()
    pg = await asyncpg.connect(url)
    try:
        return [await pg.fetch(s) for s in statements]
    finally:
        await pg.close()


async def _attempts(kind: DbKind, url: str) -> int:
    [[row]] = await _execute(kind, url, ["SELECT count(*) FROM attempts WHERE id LIKE 'att_old_%'"])
    return int(row[0])


async def one_run(kind: DbKind, work: Path, attempts: int, days: int, window_s: float) -> Run:
    database = fresh_database(kind, work, f"prune{days}")
    hookline = Hookline(database, work, retention_days=str(days))
    receiver = Counter()
    await receiver.start()
    try:
        hookline.migrate()
        old = int(time.time() * 1000) - 40 * DAY_MS
        await _execute(kind, database.url, _seed_sql(kind, attempts // 2, old))
        before = await _attempts(kind, database.url)
        hookline.start()  # the worker starts pruning at once (when retention is on)
        began = time.monotonic()
        stop = asyncio.Event()
        async with Api(hookline.base) as api:
            await api.create_subscription(
                f"http://127.0.0.1:{receiver.port}/hook", ["message.sent"]
            )

            async def lane(n: int) -> None:
                i = 0
                while not stop.is_set():
                    batch = [
                        event(f"evt_live_{n}_{i}_{j}", "message.sent", j) for j in range(BATCH)
                    ]
                    await api.publish_batch(batch)
                    i += 1

            lanes = [asyncio.create_task(lane(n)) for n in range(LANES)]
            await asyncio.sleep(WARM_UP_S)
            first = receiver.count
            started = time.monotonic()
            await asyncio.sleep(window_s)
            received = receiver.count - first
            elapsed = time.monotonic() - started
            after = await _attempts(kind, database.url)
            pruning_s = time.monotonic() - began
            load = os.getloadavg()[0]
            stop.set()
            for task in lanes:
                with contextlib.suppress(Exception):
                    await task
        return Run(
            kind, days, received / elapsed, before, after, (before - after) / pruning_s, load
        )
    finally:
        hookline.stop()
        await receiver.stop()
        database.drop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--window-s", type=float, default=30.0)
    parser.add_argument("--pairs", type=int, default=1)
    args = parser.parse_args()
    kinds: list[DbKind] = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(
        "| database | retention | deliveries/s | old attempts at start | at window's end "
        "| old attempts pruned/s | load average |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="hookline-prune-bench-") as tmp:
        for kind in kinds:
            for pair in range(args.pairs):
                # turn about: retention off first in one pair, pruning first in the next, so
                # that what changes from a first run to a second counts on both sides
                order = (0, 30) if pair % 2 == 0 else (30, 0)
                runs = [
                    await one_run(kind, Path(tmp), args.attempts, days, args.window_s)
                    for days in order
                ]
                runs.sort(key=lambda r: r.retention_days)
                for r in runs:
                    label = "off" if r.retention_days == 0 else f"{r.retention_days} days (pruning)"
                    print(
                        f"| {kind} | {label} | {r.deliveries_per_s:,.0f} | {r.attempts_before:,} "
                        f"| {r.attempts_after:,} | {r.pruned_per_s:,.0f} | {r.load:.1f} |"
                    )
                base, pruned = runs
                cost = 1 - pruned.deliveries_per_s / base.deliveries_per_s
                print(
                    f"| {kind} | cost of pruning | {cost:.0%} of throughput | | | | |", flush=True
                )


if __name__ == "__main__":
    asyncio.run(main())
