"""Log search at scale: the first filtered page of the attempt log among a million attempts.

    python -m bench.log_search [--rows 1000000] [--db sqlite|postgresql|both] [--work DIR]

Stores the attempts straight into a migrated database (SQLite: ``executemany`` on the file;
PostgreSQL: ``COPY``), then times ``Storage.list_attempts`` for the first page (50 rows) of
each filter, as the API asks for it: the best and the median of several reads after one
warm-up read. Not part of the tests. The target is every filtered first page under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex

from bench.hookline_proc import Database, DbKind, fresh_database
from hookline.core.models import Identity, Mailbox, Organization, PhoneNumber, Subscription
from hookline.storage import tables
from hookline.storage.base import Storage
from hookline.storage.factory import open_storage
from hookline.storage.records import AttemptFilter, SubscriptionSecrets

ORG = "org_bench_logs_000001"
DAY_MS = 86_400_000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: the log spans 30 days from here
SPAN_MS = 30 * DAY_MS
CHUNK = 20_000  # rows per insert batch
READS = 7  # timed reads per filter, after one warm-up read
PAGE = 50
TARGET_MS = 50.0
TYPES = (
    "message.received",
    "message.sent",
    "message.delivered",
    "message.bounced",
    "message.opened",
    "message.clicked",
    "text.received",
    "call.ended",
)
#: (status, weight): mostly 2xx, some failures, a few with no answer at all
STATUSES = ((200, 880), (204, 40), (500, 40), (503, 15), (404, 10), (410, 1), (None, 14))


class Owners:
    """Who the attempts belong to: mailboxes, identities and phone numbers, each with their
    subscriptions."""

    def __init__(self, rng: random.Random) -> None:
        self.identities = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(20)]
        self.mailboxes = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(40)]
        self.phones = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(10)]
        # (subscription id, mailbox, identity, phone)
        self.subs: list[tuple[str, str | None, str | None, str | None]] = []
        # (subscription id, identity that owns it) for the subscriptions table
        self.owner_of: dict[str, str | None] = {}
        for i, box in enumerate(self.mailboxes):
            self.subs.append((_id(rng), box, None, None))
            self.owner_of[self.subs[-1][0]] = self.identities[i % len(self.identities)]
        for ident in self.identities:
            self.subs.append((_id(rng), None, ident, None))
            self.owner_of[self.subs[-1][0]] = ident
        for phone in self.phones:
            self.subs.append((_id(rng), None, None, phone))
        self.subs.append((_id(rng), None, None, None))  # organization-wide


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


def _attempts(n: int, owners: Owners, rng: random.Random) -> Iterator[dict[str, Any]]:
    """``n`` attempt rows (column -> value), about two per event, in no particular order."""
    statuses = [s for s, w in STATUSES for _ in range(w)]
    event_no = 0
    for i in range(n):
        if i % 2 == 0:
            event_no += 1
        sub, box, ident, phone = owners.subs[rng.randrange(len(owners.subs))]
        status = statuses[rng.randrange(len(statuses))]
        event_id = f"evt_bench_{event_no:08d}"
        yield {
            "id": str(uuid.UUID(int=rng.getrandbits(128))),
            "organization_id": ORG,
            "delivery_id": None,
            "subscription_id": sub,
            "phone_number_id": phone,
            "event_id": event_id,
            "event_type": TYPES[rng.randrange(len(TYPES))],
            "url": "https://hooks.example.com/bench",
            "request_payload": '{"id":"' + event_id + '","type":"message.received","data":{}}',
            "response_status": status,
            "response_body": "ok" if status == 200 else None,
            "error_detail": None if status is not None else "timed out after 10 s",
            "duration_ms": rng.randrange(5, 900),
            "is_replay": False,
            "replayable": True,
            "replay_unavailable_reason": None,
            "created_ms": START_MS + rng.randrange(SPAN_MS),
            "mailbox_id": box,
            "agent_identity_id": ident,
            "success": status is not None and 200 <= status < 300,
            "request_headers": '{"Content-Type":"application/json"}',
            "response_headers": '{"content-type":"text/plain"}',
        }


def _chunks(it: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in it:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_COLUMNS = [c.name for c in tables.attempts.columns]
#: the log's indexes, dropped while the rows go in and built again after: one sorted build
#: per index instead of a million random inserts into each
_INDEXES = [ix for ix in tables.attempts.indexes if ix.name]


def _index_sql(dialect: sa.engine.Dialect) -> tuple[list[str], list[str]]:
    drops = [f"DROP INDEX {ix.name}" for ix in _INDEXES]
    creates = [str(CreateIndex(ix).compile(dialect=dialect)) for ix in _INDEXES]
    return drops, creates


def _fill_sqlite(path: str, n: int, owners: Owners, rng: random.Random) -> None:
    conn = sqlite3.connect(path)
    drops, creates = _index_sql(sqlite_dialect.dialect())
    try:
        conn.execute("PRAGMA synchronous = OFF")  # a throwaway file: no need to survive a crash
        for sql in drops:
            conn.execute(sql)
        # the table's own column names, no input: nothing to inject
        names, marks = ", ".join(_COLUMNS), ", ".join("?" for _ in _COLUMNS)
        sql = f"INSERT INTO attempts ({names}) VALUES ({marks})"  # noqa: S608
        for chunk in _chunks(_attempts(n, owners, rng), CHUNK):
            conn.executemany(sql, [tuple(r[c] for c in _COLUMNS) for r in chunk])
            conn.commit()
        for sql in creates:
            conn.execute(sql)
        conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()


async def _fill_postgres(url: str, n: int, owners: Owners, rng: random.Random) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    drops, creates = _index_sql(postgresql_dialect.dialect())  # type: ignore[no-untyped-call]
    try:
        for sql in drops:
            await conn.execute(sql)
        for chunk in _chunks(_attempts(n, owners, rng), CHUNK):
            await conn.copy_records_to_table(
                "attempts", records=[tuple(r[c] for c in _COLUMNS) for r in chunk], columns=_COLUMNS
            )
        for sql in creates:
            await conn.execute(sql)
        await conn.execute("ANALYZE attempts")
    finally:
        await conn.close()


def _cases(owners: Owners, event_id: str) -> list[tuple[str, AttemptFilter]]:
    mid = START_MS + SPAN_MS // 2
    base = AttemptFilter(limit=PAGE + 1)  # as the service asks: one more tells has_more
    return [
        ("no filter", base),
        ("subscription_id", replace(base, subscription_id=owners.subs[0][0])),
        ("phone_number_id", replace(base, phone_number_id=owners.phones[0])),
        ("mailbox_id", replace(base, mailbox_id=owners.mailboxes[0])),
        ("agent_identity_id", replace(base, agent_identity_id=owners.identities[0])),
        ("event_type", replace(base, event_type="call.ended")),
        ("event_id", replace(base, event_id=event_id)),
        ("status_code=500", replace(base, status_code=500)),
        ("status_code=410 (rare)", replace(base, status_code=410)),
        ("success=false", replace(base, success=False)),
        ("success=true", replace(base, success=True)),
        ("since+until (1 h)", replace(base, since_ms=mid, until_ms=mid + 3_600_000)),
        (
            "mailbox_id+status_code",
            replace(base, mailbox_id=owners.mailboxes[1], status_code=500),
        ),
        ("cursor (a later page)", replace(base, before=(mid, "8" * 36))),
        # an agent key's scope: the subscriptions it owns now (three of the 71 here)
        ("agent key scope", replace(base, owner_identity_id=owners.identities[2])),
        ("agent key scope, owns none", replace(base, owner_identity_id=str(uuid.UUID(int=7)))),
    ]


async def _subscriptions(storage: Storage, owners: Owners) -> None:
    """The subscriptions the attempts name, with their owners: an agent key's scope."""
    await storage.ensure_default_organization(Organization(id=ORG, name="bench", created_at_ms=0))
    for i, identity_id in enumerate(owners.identities):
        await storage.insert_identity(
            Identity(
                id=identity_id, organization_id=ORG, agent_handle=f"agent-{i}", created_at_ms=0
            )
        )
    for i, box in enumerate(owners.mailboxes):
        await storage.insert_mailbox(
            Mailbox(
                id=box,
                organization_id=ORG,
                email_address=f"box{i}@example.com",
                agent_identity_id=owners.identities[i % len(owners.identities)],
                webhook_url=None,
                created_at_ms=0,
            )
        )
    for i, phone in enumerate(owners.phones):
        await storage.insert_phone_number(
            PhoneNumber(
                id=phone,
                organization_id=ORG,
                number=f"+1415555{i:04d}",
                agent_identity_id=None,
                incoming_call_action="auto_reject",
                incoming_call_webhook_url=None,
                created_at_ms=0,
            )
        )
    for sub_id, sub_box, sub_ident, sub_phone in owners.subs:
        sub = Subscription(
            id=sub_id,
            organization_id=ORG,
            url="https://hooks.example.com/bench",
            event_types=TYPES,
            mailbox_id=sub_box,
            agent_identity_id=sub_ident,
            phone_number_id=sub_phone,
            owner_identity_id=owners.owner_of.get(sub_id),
            created_at_ms=START_MS,
            updated_at_ms=START_MS,
        )
        await storage.insert_subscription(sub, SubscriptionSecrets())


async def _time(storage: Storage, flt: AttemptFilter) -> tuple[float, float, int]:
    await storage.list_attempts(ORG, flt)  # warm-up: the pages are read into the cache
    times = []
    found = 0
    for _ in range(READS):
        started = time.perf_counter()
        found = len(await storage.list_attempts(ORG, flt))
        times.append((time.perf_counter() - started) * 1000)
    return min(times), statistics.median(times), found


async def _run_one(kind: DbKind, n: int, work: Path) -> list[tuple[str, float, float, int]]:
    db: Database = fresh_database(kind, work, "logs")
    rng = random.Random(1)
    owners = Owners(rng)
    storage = open_storage(db.url)
    try:
        await storage.migrate()
        await _subscriptions(storage, owners)
        started = time.perf_counter()
        if kind == "sqlite":
            await asyncio.to_thread(_fill_sqlite, db.url.removeprefix("sqlite:///"), n, owners, rng)
        else:
            await _fill_postgres(db.url, n, owners, rng)
        print(f"{kind}: stored {n:,} attempts in {time.perf_counter() - started:.0f} s")
        results = []
        for name, flt in _cases(owners, f"evt_bench_{n // 4:08d}"):
            best, median, found = await _time(storage, flt)
            flag = "" if median < TARGET_MS else "  <-- over target"
            print(f"  {name:<26} best {best:7.2f} ms  median {median:7.2f} ms  rows {found}{flag}")
            results.append((name, best, median, found))
        return results
    finally:
        await storage.close()
        db.drop()


def _markdown(n: int, runs: dict[DbKind, list[tuple[str, float, float, int]]]) -> str:
    kinds = list(runs)
    lines = [
        "| filter (first page, 50 rows) | "
        + " | ".join(f"{k} median (best)" for k in kinds)
        + " |",
        "| --- | " + " | ".join("---" for _ in kinds) + " |",
    ]
    names = [r[0] for r in runs[kinds[0]]]
    for i, name in enumerate(names):
        cells = [f"{runs[k][i][2]:.1f} ms ({runs[k][i][1]:.1f})" for k in kinds]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return f"{n:,} attempts\n\n" + "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--work", type=Path, default=None, help="where the SQLite file goes")
    args = p.parse_args()
    kinds: list[DbKind] = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    with tempfile.TemporaryDirectory(prefix="hookline-logs-") as tmp:
        work = args.work or Path(tmp)
        runs = {kind: asyncio.run(_run_one(kind, args.rows, work)) for kind in kinds}
    print()
    print(_markdown(args.rows, runs))


if __name__ == "__main__":
    main()
