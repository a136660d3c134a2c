"""The console's pages on a big log: each page's time with 100,000 attempts and 1,000 webhooks.

    python -m bench.console_pages [--rows 100000] [--webhooks 1000] [--db sqlite|postgresql|both]

Stores the rows straight into a migrated database (SQLite: ``executemany``; PostgreSQL:
``COPY``): subscriptions, one event per two attempts, one delivery per attempt, and the
attempts of bench/log_search.py spread over the webhooks. Then starts a real ``hookline
serve`` (SQLite) or ``hookline api`` (PostgreSQL), creates a console admin with ``hookline
users create``, signs in through the form, and GETs each page seven times after one warm-up
GET. The times are taken by the client (httpx on loopback), so they bound the server's time
from above. Not part of the tests. The target is every page under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.hookline_proc import DbKind, Hookline, fresh_database
from bench.log_search import ORG, SPAN_MS, START_MS, Owners, _attempts, _subscriptions
from hookline.storage import tables
from hookline.storage.factory import open_storage

READS = 7
TARGET_MS = 200.0
EMAIL = "bench@example.com"
PASSWORD = "bench console password"  # noqa: S105 - a throwaway bench user
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _rows(n: int, owners: Owners, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """Attempts, their deliveries (one each) and their events (one per two attempts)."""
    attempts = list(_attempts(n, owners, rng))
    # bench/log_search.py's 30 days, moved to the last 7: retention keeps them, and the
    # health charts of the last 24 hours have something to show
    end, now = START_MS + SPAN_MS, int(time.time() * 1000)
    for a in attempts:
        a["created_ms"] = now - (end - a["created_ms"]) * 7 // 30
    deliveries: list[dict[str, Any]] = []
    events: dict[str, dict[str, Any]] = {}
    for a in attempts:
        delivery = str(uuid.UUID(int=rng.getrandbits(128)))
        a["delivery_id"] = delivery
        deliveries.append(
            {
                "id": delivery,
                "organization_id": ORG,
                "event_id": a["event_id"],
                "subscription_id": a["subscription_id"],
                "state": "succeeded" if a["success"] else "failed",
                "attempts": 1,
                "next_attempt_ms": None,
                "lease_token": None,
                "first_attempt_ms": a["created_ms"],
                "last_attempt_ms": a["created_ms"],
                "last_status": a["response_status"],
                "last_error": a["error_detail"],
                "created_ms": a["created_ms"],
                "updated_ms": a["created_ms"],
                "pull": False,
            }
        )
        events.setdefault(
            a["event_id"],
            {
                "organization_id": ORG,
                "id": a["event_id"],
                "type": a["event_type"],
                "mailbox_id": a["mailbox_id"],
                "phone_number_id": a["phone_number_id"],
                "agent_identity_id": a["agent_identity_id"],
                "domain": None,
                "data": '{"message_id": "msg_1"}',
                "occurred_ms": a["created_ms"],
                "created_ms": a["created_ms"],
            },
        )
    return {"events": list(events.values()), "deliveries": deliveries, "attempts": attempts}


def _fill_sqlite(path: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    conn = sqlite3.connect(path)
    try:
        for table, batch in rows.items():
            cols = [c.name for c in tables.metadata.tables[table].columns]
            # the table's own column names, no input: nothing to inject
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"  # noqa: S608
            conn.executemany(sql, [tuple(r[c] for c in cols) for r in batch])
        conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()


async def _fill_postgres(url: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    conn = await asyncpg.connect(url)
    try:
        for table, batch in rows.items():
            cols = [c.name for c in tables.metadata.tables[table].columns]
            records = [tuple(r[c] for c in cols) for r in batch]
            await conn.copy_records_to_table(table, records=records, columns=cols)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def _store(url: str, kind: DbKind, n: int, webhooks: int) -> tuple[Owners, str]:
    """The rows; the owners, and an event id that has deliveries."""
    rng = random.Random(1)
    owners = Owners(rng)
    # the rest of the webhooks organization-wide, so that there are ``webhooks`` in all
    while len(owners.subs) < webhooks:
        owners.subs.append((str(uuid.UUID(int=rng.getrandbits(128))), None, None, None))
    storage = open_storage(url)
    try:
        # the log's organization is the default one, which console users belong to
        await _subscriptions(storage, owners)
    finally:
        await storage.close()
    rows = _rows(n, owners, rng)
    if kind == "sqlite":
        await asyncio.to_thread(_fill_sqlite, url.removeprefix("sqlite:///"), rows)
    else:
        await _fill_postgres(url, rows)
    return owners, str(rows["events"][len(rows["events"]) // 2]["id"])


def _sign_in(client: httpx.Client) -> None:
    form = client.get("/console/sign-in")
    token = _CSRF.search(form.text)
    assert token, form.text
    done = client.post(
        "/console/sign-in",
        data={"csrf_token": token.group(1), "email": EMAIL, "password": PASSWORD},
    )
    assert done.status_code == 303, done.text


def _time(client: httpx.Client, path: str) -> tuple[float, float, int]:
    first = client.get(path)  # warm-up
    assert first.status_code == 200, (path, first.status_code)
    times = []
    for _ in range(READS):
        started = time.perf_counter()
        resp = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert resp.status_code == 200, path
    return min(times), statistics.median(times), len(first.content)


def _pages(client: httpx.Client, owners: Owners, event_id: str) -> list[tuple[str, str]]:
    busy = owners.subs[0][0]  # a mailbox's webhook, with its share of the attempts
    page = client.get(f"/console/webhooks/{busy}").text
    attempt = re.search(rf"/console/webhooks/{busy}/attempts/([\w-]+)", page)
    assert attempt, "the webhook's page lists no attempt"
    return [
        ("Webhooks list", "/console/webhooks"),
        ("Webhooks list, last page", f"/console/webhooks?offset={len(owners.subs) - 50}"),
        ("a webhook (with its attempts)", f"/console/webhooks/{busy}"),
        ("an attempt", f"/console/webhooks/{busy}/attempts/{attempt.group(1)}"),
        ("Events", "/console/events"),
        ("an event", f"/console/events/{event_id}"),
        ("Owners", "/console/owners"),
        ("API keys", "/console/api-keys"),
        ("Signing keys", "/console/signing-keys"),
        ("Users", "/console/users"),
        ("Catalog", "/console/catalog"),
    ]


def _run_one(kind: DbKind, n: int, webhooks: int, work: Path) -> list[tuple[str, float, float]]:
    db = fresh_database(kind, work, "console")
    hookline = Hookline(db, work)
    try:
        hookline.migrate()  # `hookline migrate`, on either database
        started = time.perf_counter()
        owners, event_id = asyncio.run(_store(db.url, kind, n, webhooks))
        print(
            f"{kind}: stored {n:,} attempts, {webhooks:,} webhooks in "
            f"{time.perf_counter() - started:.0f} s"
        )
        made = subprocess.run(
            [sys.executable, "-m", "hookline", "users", "create", "--email", EMAIL],
            input=f"{PASSWORD}\n{PASSWORD}\n",
            env=hookline.env(),
            cwd=work,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert made.returncode == 0, made.stdout + made.stderr
        if kind == "sqlite":
            hookline.start()  # `hookline serve`
        else:
            hookline.start_api()  # `hookline api`: the pages need no worker
        results = []
        with httpx.Client(base_url=hookline.base, timeout=60) as client:
            _sign_in(client)
            for name, path in _pages(client, owners, event_id):
                best, median, size = _time(client, path)
                flag = "" if median < TARGET_MS else "  <-- over target"
                print(
                    f"  {name:<30} best {best:7.1f} ms  median {median:7.1f} ms  "
                    f"{size // 1024} KiB{flag}"
                )
                results.append((name, best, median))
        return results
    finally:
        hookline.stop()
        db.drop()


def _markdown(runs: Mapping[DbKind, Sequence[tuple[str, float, float]]]) -> str:
    kinds = list(runs)
    lines = [
        "| page | " + " | ".join(f"{k} median (best)" for k in kinds) + " |",
        "| --- | " + " | ".join("---" for _ in kinds) + " |",
    ]
    for i, (name, _, _) in enumerate(runs[kinds[0]]):
        cells = [f"{runs[k][i][2]:.0f} ms ({runs[k][i][1]:.0f})" for k in kinds]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--webhooks", type=int, default=1_000)
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = p.parse_args()
    kinds: list[DbKind] = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    with tempfile.TemporaryDirectory(prefix="hookline-console-") as tmp:
        runs = {k: _run_one(k, args.rows, args.webhooks, Path(tmp)) for k in kinds}
    print()
    print(_markdown(runs))


if __name__ == "__main__":
    main()
