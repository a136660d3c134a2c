"""``hookline prune`` in a subprocess against a real database, and what the API says after.

The log's history is written with Hookline's own storage at times 40 days back (the API
would stamp them now), then the CLI and the server run as an operator would run them."""

from __future__ import annotations

import asyncio
import gzip
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import Launcher, Receiver, base_env, hookline
from hookline.core import ids
from hookline.core.models import Attempt, Delivery, DeliveryState, Event, Organization, Subscription
from hookline.storage.factory import open_storage
from hookline.storage.records import NewDeliveries, SubscriptionSecrets

DAY_MS = 86_400_000
OLD = 20  # old events that ended, to be pruned


@dataclass
class History:
    pruned_events: list[str]
    pruned_attempts: list[str]
    kept_events: list[str]


def _event(org_id: str, at: int, data_bytes: int = 20) -> Event:
    return Event(
        id=ids.new_event_id(),
        organization_id=org_id,
        type="message.sent",
        data={"note": "x" * data_bytes},
        occurred_at_ms=at,
        created_at_ms=at,
    )


def _delivery(ev: Event, sub: Subscription, state: DeliveryState) -> Delivery:
    live = state in ("pending", "delivering")
    return Delivery(
        id=ids.new_uuid(),
        organization_id=ev.organization_id,
        event_id=ev.id,
        subscription_id=sub.id,
        state=state,
        attempts=0 if live or state == "held" else 1,
        next_attempt_at_ms=ev.created_at_ms if live else None,
        first_attempt_at_ms=None,
        last_attempt_at_ms=None,
        last_status=None,
        last_error=None,
        created_at_ms=ev.created_at_ms,
        updated_at_ms=ev.created_at_ms,
    )


def _attempt(ev: Event, d: Delivery, sub: Subscription) -> Attempt:
    return Attempt(
        id=ids.new_uuid(),
        organization_id=ev.organization_id,
        delivery_id=d.id,
        subscription_id=sub.id,
        phone_number_id=None,
        event_id=ev.id,
        event_type=ev.type,
        url=sub.url,
        request_payload=json.dumps({"id": ev.id}),
        response_status=200,
        response_body="ok",
        error_detail=None,
        duration_ms=3,
        is_replay=False,
        created_at_ms=ev.created_at_ms,
    )


async def _write_history(url: str, hook_url: str, *, bulk: int = 0) -> History:
    """Old ended events (pruned), and what stays: old ones still pending or held, recent
    ones. ``bulk`` more old ended events with 4 kB of data each."""
    now = int(time.time() * 1000)
    old = now - 40 * DAY_MS
    storage = open_storage(url)
    try:
        org = await storage.ensure_default_organization(
            Organization(id="org_prune_test_000001", name="prune", created_at_ms=old)
        )
        sub = Subscription(
            id=ids.new_uuid(),
            organization_id=org.id,
            url=hook_url,
            event_types=("message.sent",),
            created_at_ms=old,
            updated_at_ms=old,
        )
        await storage.insert_subscription(sub, SubscriptionSecrets())
        history = History([], [], [])
        items: list[NewDeliveries] = []
        attempts: list[Attempt] = []
        for i in range(OLD):
            ev = _event(org.id, old + i)
            d = _delivery(ev, sub, "succeeded")
            items.append(NewDeliveries(event=ev, deliveries=[d]))
            attempts.append(_attempt(ev, d, sub))
            history.pruned_events.append(ev.id)
        for state, at in (("pending", old), ("held", old), ("succeeded", now)):
            ev = _event(org.id, at)
            d = _delivery(ev, sub, state)  # type: ignore[arg-type]
            items.append(NewDeliveries(event=ev, deliveries=[d]))
            history.kept_events.append(ev.id)
        await storage.insert_events_with_deliveries(items)
        for a in attempts:
            await storage.insert_attempt(a)
        history.pruned_attempts = [a.id for a in attempts]
        for start in range(0, bulk, 500):
            chunk = [
                _event(org.id, old - 1, data_bytes=4096) for _ in range(min(500, bulk - start))
            ]
            await storage.insert_events_with_deliveries(
                [NewDeliveries(event=e, deliveries=[_delivery(e, sub, "failed")]) for e in chunk]
            )
        return history
    finally:
        await storage.close()


def _migrate(launcher: Launcher, url: str) -> None:
    done = launcher.run(hookline("migrate"), base_env(url))
    assert done.returncode == 0, done.stderr


def test_prune_dry_run_export_and_the_404s_after(
    launcher: Launcher, database_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    _migrate(launcher, database_url)
    history = asyncio.run(_write_history(database_url, receiver.url("/kept")))
    env = base_env(database_url)

    bad = launcher.run(hookline("prune", "--older-than", "soon"), env)
    assert bad.returncode == 2 and "--older-than" in bad.stderr

    dry = launcher.run(hookline("prune", "--older-than", "30d", "--dry-run"), env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip() == f"would prune {OLD} events, {OLD} deliveries, {OLD} attempts"
    again = launcher.run(hookline("prune", "--older-than", "30d", "--dry-run"), env)
    assert again.stdout == dry.stdout, "a dry run deletes nothing"

    export = tmp_path / "pruned.jsonl.gz"
    done = launcher.run(hookline("prune", "--older-than", "30d", "--export", str(export)), env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"pruned {OLD} events, {OLD} deliveries, {OLD} attempts"
    assert "pruning" in done.stderr and f"{3 * OLD}/{3 * OLD}" in done.stderr
    with gzip.open(export, "rt") as f:
        lines = [json.loads(line) for line in f]
    assert sorted(x["event"]["id"] for x in lines) == sorted(history.pruned_events)
    for x in lines:
        [d] = x["deliveries"]
        [a] = x["attempts"]
        assert d["event_id"] == x["event"]["id"] and d["state"] == "succeeded"
        assert a["delivery_id"] == d["id"] and a["response_status"] == 200
    assert sorted(x["attempts"][0]["id"] for x in lines) == sorted(history.pruned_attempts)

    nothing = launcher.run(hookline("prune", "--older-than", "30d"), env)
    assert nothing.stdout.strip() == "pruned 0 events, 0 deliveries, 0 attempts"

    server = launcher.serve(database_url)
    gone = server.api("GET", f"/events/{history.pruned_events[0]}")
    assert gone.status_code == 404 and "pruned" in gone.json()["detail"]
    replay = server.api("POST", f"/webhooks/deliveries/{history.pruned_attempts[0]}/replay")
    assert replay.status_code == 404 and "pruned" in replay.json()["detail"]
    pending, held, recent = history.kept_events
    for eid in (pending, held, recent):
        assert server.api("GET", f"/events/{eid}").status_code == 200
    assert server.api("GET", f"/events/{held}/deliveries").json()["deliveries"][0]["state"] == (
        "held"
    )
    assert len(server.api("GET", f"/events/{pending}/deliveries").json()["deliveries"]) == 1


def _file_bytes(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path.stat().st_size


def test_sqlite_gives_the_space_back(launcher: Launcher, tmp_path: Path) -> None:
    db = tmp_path / "big.db"
    url = f"sqlite:///{db}"
    _migrate(launcher, url)
    asyncio.run(_write_history(url, "http://127.0.0.1:9/none", bulk=5_000))
    before = _file_bytes(db)
    assert before > 20_000_000

    done = launcher.run(hookline("prune", "--older-than", "30d"), base_env(url))

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"pruned {OLD + 5_000} events")
    after = _file_bytes(db)
    assert after < before / 4, (before, after)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 2_592_000), ("12h", 43_200), ("45m", 2_700), ("90s", 90)]
)
def test_durations(text: str, seconds: int) -> None:
    from hookline.cli.prune import parse_duration_s

    assert parse_duration_s(text) == seconds
    for bad in ("", "30", "d", "0d", "-1d", "1w", "1.5h"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration_s(bad)
