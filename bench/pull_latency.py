"""Pull latency: from a publish to the answer of a pull waiting for it, on an idle ``hookline
serve`` (SQLite, one process: the publish wakes the waiting pull in memory).

    python -m bench.pull_latency [--events 200] [--db sqlite|postgresql]

Each round: a pull (``wait_s`` 10) is waiting; one event is published; the time from sending
the publish to receiving the pull's answer is one sample. The delivery is acknowledged before
the next round. Prints p50 and p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.hookline_proc import ADMIN_KEY, Hookline, fresh_database

API = "/api/v1"
WAIT_S = 10.0  # the pull's long poll: far longer than a round should take
#: a pull already waiting on the server before the publish: it has been sent and not answered
SETTLE_S = 0.05


async def _round(client: httpx.AsyncClient, sub_id: str, n: int) -> float:
    pulling = asyncio.create_task(
        client.post(f"{API}/webhooks/subscriptions/{sub_id}/pull", json={"wait_s": WAIT_S})
    )
    await asyncio.sleep(SETTLE_S)
    assert not pulling.done(), "the pull answered before anything was published"
    started = time.perf_counter()
    published = await client.post(
        f"{API}/events",
        json={"id": f"evt_pull_bench_{n}", "type": "message.received", "data": {"n": n}},
    )
    published.raise_for_status()
    answer = await pulling
    took_ms = (time.perf_counter() - started) * 1000
    answer.raise_for_status()
    [got] = answer.json()["deliveries"]
    acked = await client.post(
        f"{API}/webhooks/subscriptions/{sub_id}/ack",
        json={
            "results": [{"delivery_id": got["delivery_id"], "lease": got["lease"], "status": 200}]
        },
    )
    acked.raise_for_status()
    return took_ms


async def measure(base: str, events: int) -> list[float]:
    async with httpx.AsyncClient(
        base_url=base, headers={"X-API-Key": ADMIN_KEY}, timeout=WAIT_S + 30
    ) as client:
        created = await client.post(
            f"{API}/webhooks/subscriptions",
            json={"mode": "pull", "event_types": ["message.received"]},
        )
        created.raise_for_status()
        sub_id = created.json()["id"]
        for n in range(5):  # warm-up: connections, caches
            await _round(client, sub_id, -1 - n)
        return [await _round(client, sub_id, n) for n in range(events)]


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pull-bench-") as tmp:
        work = Path(tmp)
        db = fresh_database(args.db, work, "pull")
        hookline = Hookline(db, work)
        try:
            hookline.start()
            samples = asyncio.run(measure(hookline.base, args.events))
        finally:
            hookline.stop()
            db.drop()
    print(
        f"pull latency, {args.db}, {len(samples)} events: "
        f"p50 {percentile(samples, 50):.1f} ms, p99 {percentile(samples, 99):.1f} ms, "
        f"mean {statistics.fmean(samples):.1f} ms, max {max(samples):.1f} ms"
    )


if __name__ == "__main__":
    main()
