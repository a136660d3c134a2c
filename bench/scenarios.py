"""The scenarios (a)-(g) of the benchmark, each run against one database kind.

Every scenario starts Hookline on a fresh database, points its subscriptions at nginx under a
path prefix of its own, and checks what nginx received against what it published.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import wrk_load
from bench.api_client import TYPES, Api, event
from bench.hookline_proc import ADMIN_KEY, DbKind, Hookline, fresh_database
from bench.receiver import BlackHole, Nginx, Tally

BATCH = 1000  # events per POST /events/batch (Hookline's maximum)
ISOLATION_SUBSCRIPTIONS = 10  # in (b) and (c); 20 % of them are dead in (c)
DEAD_FRACTION = 0.2
SAMPLE_S = 0.1  # how often the worker's memory is read
PUBLISH_CONNECTIONS = 256  # concurrent POST /events at most in (b) and (c)
WARM_UP_TYPE = "call.ended"  # no scenario publishes it
READY_TIMEOUT_S = 60.0
GIVE_UP_FACTOR = 2  # (b), (c): events still unsent after twice the run's length are dropped
#: (g): subscriptions to the black hole beside the 10 healthy ones, the event type only they
#: take, and how many events of it a second keep every one of them busy: one event is a
#: delivery to each of the 50, and each can start a few attempts per timeout at most
MANY_DEAD = 50
DEAD_TYPE = "text.sent"
DEAD_STREAM_RATE = 2


@dataclass(frozen=True, kw_only=True)
class Sizes:
    throughput_events: int
    latency_rate: int  # events per second
    latency_seconds: int
    fanout_subscriptions: int
    backlog_deliveries: int
    backlog_subscriptions: int
    backlog_window_s: float  # how long the restarted worker is watched after its first delivery
    ingest_seconds: float  # each of single and batched
    ingest_single_clients: int
    ingest_batch_clients: int
    bare_deliveries: int
    celery_deliveries: int
    wrk_seconds: int
    arq_deliveries: int = 20_000


FULL = Sizes(
    throughput_events=50_000,
    latency_rate=500,
    latency_seconds=30,
    fanout_subscriptions=10_000,
    backlog_deliveries=1_000_000,
    backlog_subscriptions=100,
    backlog_window_s=20.0,
    ingest_seconds=10.0,
    ingest_single_clients=32,
    ingest_batch_clients=4,
    bare_deliveries=50_000,
    celery_deliveries=10_000,
    wrk_seconds=10,
)
SMOKE = Sizes(
    throughput_events=200,
    latency_rate=50,
    latency_seconds=1,
    fanout_subscriptions=50,
    backlog_deliveries=2_000,
    backlog_subscriptions=10,
    backlog_window_s=0.5,
    ingest_seconds=0.5,
    ingest_single_clients=8,
    ingest_batch_clients=2,
    bare_deliveries=500,
    celery_deliveries=200,
    wrk_seconds=1,
    arq_deliveries=200,
)


@dataclass
class Context:
    work: Path
    nginx: Nginx
    blackhole: BlackHole
    sizes: Sizes
    say: Callable[[str], None]


@dataclass
class Outcome:
    """One scenario on one database: its named figures and its delivery check."""

    scenario: str
    db: str
    figures: dict[str, float] = field(default_factory=dict)
    tally: Tally | None = None
    #: False when the scenario stops before every delivery was sent (lost is not measured)
    drained: bool = True
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@contextlib.asynccontextmanager
async def deployment(
    ctx: Context, db: DbKind, label: str, *, start: bool = True, stop_timeout_s: float = 15.0
) -> AsyncIterator[Hookline]:
    """Hookline on a fresh database; when started, proven ready by one warm-up delivery."""
    database = fresh_database(db, ctx.work, label)
    hookline = Hookline(database, ctx.work)
    try:
        if start:
            hookline.start()
            await _warm_up(ctx, hookline, f"/warmup-{label}-{db}")
        yield hookline
    finally:
        hookline.stop(stop_timeout_s)
        database.drop()


async def _warm_up(ctx: Context, hookline: Hookline, prefix: str) -> None:
    """One event of a type no scenario uses, to its own subscription, received: the worker is
    up (a separate process on PostgreSQL boots after the API answers) and its pool is open."""
    receipts = ctx.nginx.receipts(prefix)
    async with Api(hookline.base) as api:
        await api.create_subscription(ctx.nginx.url(f"{prefix}/s0"), [WARM_UP_TYPE])
        await api.publish(event(f"evt_{prefix[1:]}", WARM_UP_TYPE, 0))
    tally = await receipts.wait_for(
        [(f"{prefix}/s0", f"evt_{prefix[1:]}")], timeout_s=READY_TIMEOUT_S, stall_s=READY_TIMEOUT_S
    )
    if tally.received != 1:
        raise RuntimeError(f"the warm-up delivery did not arrive in {READY_TIMEOUT_S} s")


def _note_retries(out: Outcome, api: Api) -> None:
    if api.retries:
        out.notes.append(
            f"{api.retries} publishes were sent again after the API reset the connection "
            "(idempotent: same event ids)"
        )


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0-100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def _publish_batches(
    api: Api, events: Sequence[dict[str, Any]], size: int, clients: int
) -> int:
    """Publish in batches over ``clients`` concurrent lanes; the deliveries created."""
    batches = list(_chunks(events, size))
    created = 0

    async def lane(first: int) -> None:
        nonlocal created
        for b in batches[first::clients]:
            published = await api.publish_batch(b)
            created += sum(p["deliveries"] for p in published)

    await asyncio.gather(*(lane(i) for i in range(clients)))
    return created


async def throughput(ctx: Context, db: DbKind, subscriptions: int) -> Outcome:
    """(a) N events, each to exactly one of ``subscriptions`` subscriptions (spread evenly by
    event type), so N deliveries: deliveries/s from the first publish to the last receipt."""
    name = f"a{subscriptions}"
    prefix = f"/{name}-{db}"
    out = Outcome(scenario=name, db=db)
    n_events = ctx.sizes.throughput_events
    async with deployment(ctx, db, name) as hl:
        async with Api(hl.base) as api:
            await api.create_subscriptions(
                [(ctx.nginx.url(f"{prefix}/s{i}"), [TYPES[i]]) for i in range(subscriptions)]
            )
            receipts = ctx.nginx.receipts(prefix)
            events = [
                event(f"evt_{name}-{db}_{n}", TYPES[n % subscriptions], n) for n in range(n_events)
            ]
            expected = [(f"{prefix}/s{n % subscriptions}", e["id"]) for n, e in enumerate(events)]
            cpu_before = hl.cpu_s()
            started = time.time()
            created = await _publish_batches(api, events, BATCH, 1)
            published = time.time()
            took = published - started
            ctx.say(f"  published {n_events} events ({created} deliveries) in {took:.1f} s")
            out.tally = await receipts.wait_for(expected, timeout_s=1800, stall_s=60)
            cpu_used = hl.cpu_s() - cpu_before
            _note_retries(out, api)
        out.notes += hl.check_alive()
    last = out.tally.last_s or time.time()
    out.figures.update(
        deliveries=len(expected),
        seconds=last - started,
        deliveries_per_s=out.tally.received / (last - started),
        publish_s=published - started,
        # Hookline's own CPU per event published and delivered: steadier than the rate when
        # the machine's speed moves (it does not count waiting), and what a change to the code
        # every event goes through moves first; read at the last receipt, so a little idle
        # time may be in it
        cpu_ms_per_delivery=1000 * cpu_used / max(out.tally.received, 1),
    )
    return out


async def isolation(ctx: Context, db: DbKind) -> Outcome:
    """(g) (b) run twice, back to back on fresh databases: as it is, then with 50 more
    subscriptions pointing at the black hole, kept busy by events of their own. The figures
    are the second run's, with the first's p99 beside them: the reference of the target."""
    ref = await latency(ctx, db, dead_fraction=0, name="g0")
    out = await latency(ctx, db, dead_fraction=0, name="g", extra_dead=MANY_DEAD)
    out.notes = ref.notes + out.notes
    if ref.tally is not None and (ref.tally.lost or ref.tally.duplicated):
        out.notes.append(f"the run without dead endpoints: {ref.tally}")
    out.figures.update(
        ref_p99_ms=ref.figures["p99_ms"],
        ref_p50_ms=ref.figures["p50_ms"],
        ref_publish_rate=ref.figures["publish_rate"],
        ref_published=ref.figures["published"],
    )
    return out


async def latency(
    ctx: Context, db: DbKind, *, dead_fraction: float, name: str | None = None, extra_dead: int = 0
) -> Outcome:
    """(b) and (c): a steady rate of single publishes, one delivery per event, the events
    spread evenly over 10 subscriptions; (c) points 20 % of them at the black hole. With
    ``extra_dead``, that many more subscriptions point at the black hole, each taking every
    event of DEAD_TYPE, published DEAD_STREAM_RATE a second meanwhile (g)."""
    name = name or ("c" if dead_fraction else "b")
    prefix = f"/{name}-{db}"
    out = Outcome(scenario=name, db=db)
    subs = ISOLATION_SUBSCRIPTIONS
    dead = round(subs * dead_fraction)
    healthy = subs - dead
    rate, seconds = ctx.sizes.latency_rate, ctx.sizes.latency_seconds
    total = rate * seconds
    # a dead endpoint keeps its attempts until they time out: do not wait for them to stop
    async with deployment(ctx, db, name, stop_timeout_s=1.0) as hl:
        async with Api(hl.base, connections=256) as api:
            specs = [
                (
                    ctx.nginx.url(f"{prefix}/s{i}")
                    if i < healthy
                    else ctx.blackhole.url(f"{prefix}/s{i}"),
                    [TYPES[i]],
                )
                for i in range(subs)
            ]
            specs += [
                (ctx.blackhole.url(f"{prefix}/dead{i}"), [DEAD_TYPE]) for i in range(extra_dead)
            ]
            await api.create_subscriptions(specs)
            receipts = ctx.nginx.receipts(prefix)
            sent = [0.0] * total
            acked = [0.0] * total
            gate = asyncio.Semaphore(PUBLISH_CONNECTIONS)
            give_up = time.monotonic() + seconds * GIVE_UP_FACTOR

            async def one(n: int) -> None:
                ev = event(f"evt_{name}-{db}_{n}", TYPES[n % subs], n)
                sent[n] = time.time()  # its scheduled moment: waiting for a connection counts
                async with gate:
                    if time.monotonic() > give_up:
                        return  # the API fell this far behind: never sent, not counted
                    await api.publish(ev)
                acked[n] = time.time()

            async def dead_stream() -> None:
                for k in range(DEAD_STREAM_RATE * seconds):
                    await api.publish(event(f"evt_{name}-{db}_dead_{k}", DEAD_TYPE, k))
                    await asyncio.sleep(1 / DEAD_STREAM_RATE)

            tasks: list[asyncio.Task[None]] = []
            if extra_dead:
                tasks.append(asyncio.create_task(dead_stream()))
            t0 = time.monotonic() + 0.05
            for n in range(total):
                delay = t0 + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(n)))
            await asyncio.gather(*tasks)
            done = [n for n in range(total) if acked[n]]
            achieved = len(done) / (max(acked) - min(sent))
            _note_retries(out, api)
        wanted = [n for n in done if n % subs < healthy]
        keys = {n: (f"{prefix}/s{n % subs}", f"evt_{name}-{db}_{n}") for n in wanted}
        out.tally = await receipts.wait_for(keys.values(), timeout_s=300, stall_s=30)
        out.notes += hl.check_alive()
        if dead or extra_dead:
            out.notes.append(f"black hole accepted {ctx.blackhole.accepted} connections so far")
    from_send = [
        (receipts.first_s[k] - sent[n]) * 1000 for n, k in keys.items() if k in receipts.first_s
    ]
    from_ack = [
        (receipts.first_s[k] - acked[n]) * 1000 for n, k in keys.items() if k in receipts.first_s
    ]
    if len(done) < total:
        out.notes.append(
            f"the API fell {GIVE_UP_FACTOR}x the run behind: {total - len(done)} of {total} "
            "scheduled events were never sent"
        )
    out.figures.update(
        events=total,
        published=len(done),
        healthy_deliveries=len(keys),
        publish_rate=achieved,
        p50_ms=percentile(from_send, 50),
        p95_ms=percentile(from_send, 95),
        p99_ms=percentile(from_send, 99),
        max_ms=max(from_send, default=float("nan")),
        p99_from_ack_ms=percentile(from_ack, 99),
        publish_p99_ms=percentile([(acked[n] - sent[n]) * 1000 for n in done], 99),
    )
    return out


async def fanout(ctx: Context, db: DbKind) -> Outcome:
    """(d) one event to many subscriptions: time from publish until the last is received."""
    prefix = f"/d-{db}"
    out = Outcome(scenario="d", db=db)
    subs = ctx.sizes.fanout_subscriptions
    async with deployment(ctx, db, "d") as hl:
        async with Api(hl.base) as api:
            made = time.time()
            await api.create_subscriptions(
                [(ctx.nginx.url(f"{prefix}/s{i}"), ["message.bounced"]) for i in range(subs)],
                concurrency=8,
            )
            ctx.say(f"  created {subs} subscriptions in {time.time() - made:.1f} s")
            receipts = ctx.nginx.receipts(prefix)
            eid = f"evt_d-{db}_0"
            sent = time.time()
            published = await api.publish(event(eid, "message.bounced", 0))
            acked = time.time()
            _note_retries(out, api)
        expected = [(f"{prefix}/s{i}", eid) for i in range(subs)]
        out.tally = await receipts.wait_for(expected, timeout_s=600, stall_s=60)
        out.notes += hl.check_alive()
    last = out.tally.last_s or time.time()
    out.figures.update(
        subscriptions=subs,
        deliveries_created=published["deliveries"],
        publish_ms=(acked - sent) * 1000,
        first_s=(out.tally.first_s or last) - sent,
        last_s=last - sent,
        deliveries_per_s=out.tally.received / (last - sent),
    )
    return out


async def backlog(ctx: Context, db: DbKind) -> Outcome:
    """(e) a backlog of pending deliveries built while no worker runs, then a worker starts:
    the time to its first delivery, and its peak RSS while it works through the backlog."""
    prefix = f"/e-{db}"
    out = Outcome(scenario="e", db=db, drained=False)
    subs = ctx.sizes.backlog_subscriptions
    n_events = ctx.sizes.backlog_deliveries // subs
    per_batch = max(1, min(BATCH, 10_000 // subs))  # about 10,000 deliveries per request
    async with deployment(ctx, db, "e", start=False) as hl:
        hl.start_api()
        async with Api(hl.base) as api:
            await api.create_subscriptions(
                [(ctx.nginx.url(f"{prefix}/s{i}"), ["message.delivered"]) for i in range(subs)]
            )
            events = [event(f"evt_e-{db}_{n}", "message.delivered", n) for n in range(n_events)]
            made = time.time()
            created = await _publish_batches(api, events, per_batch, 2)
            ctx.say(f"  {created} pending deliveries created in {time.time() - made:.1f} s")
            _note_retries(out, api)
        assert hl.api_proc is not None
        hl.api_proc.stop()
        receipts = ctx.nginx.receipts(prefix)
        worker = hl.start_worker()
        first_at: float | None = None
        peak_kib = 0
        deadline = time.time() + 600
        while time.time() < deadline and worker.alive():
            receipts.poll()
            mem = worker.memory_kib()
            peak_kib = max(peak_kib, mem.get("VmHWM", 0), mem.get("VmRSS", 0))
            if first_at is None and receipts.first_s:
                first_at = time.time()
            if first_at is not None and time.time() - first_at >= ctx.sizes.backlog_window_s:
                break
            await asyncio.sleep(SAMPLE_S)
        window_end = time.time()
        out.notes += hl.check_alive()
        worker.stop()
    receipts.poll()
    in_window = [t for t in receipts.first_s.values() if t <= window_end]
    first = min(receipts.first_s.values(), default=None)
    expected = [(f"{prefix}/s{i}", e["id"]) for e in events for i in range(subs)]
    out.tally = receipts.tally(set(expected))
    out.figures.update(
        pending=created,
        first_delivery_s=(first - worker.started_s) if first else float("nan"),
        peak_rss_mb=peak_kib * 1024 / 1e6,
        window_s=window_end - (first or window_end),
        window_deliveries=len(in_window),
        drain_per_s=len(in_window) / max(window_end - (first or window_end), 1e-9),
    )
    return out


async def ingest(ctx: Context, db: DbKind) -> Outcome:
    """(f) events/s accepted by POST /events (concurrent clients, closed loop) and by
    /events/batch, each for a fixed time. Every event routes to one subscription, as in
    production, so the worker delivers while the API ingests; the backlog is not drained.

    The load comes from wrk (wrk_load.py says why); the harness's own Python client runs
    the same two loads first, and its figures are reported beside wrk's."""
    prefix = f"/f-{db}"
    out = Outcome(scenario="f", db=db, drained=False)
    sz = ctx.sizes
    connections = max(sz.ingest_single_clients, sz.ingest_batch_clients)
    async with deployment(ctx, db, "f") as hl:
        async with Api(hl.base, connections=connections) as api:
            await api.create_subscription(ctx.nginx.url(f"{prefix}/s0"), ["message.delivered"])
            receipts = ctx.nginx.receipts(prefix)

            async def one(lane: int, k: int) -> None:
                await api.publish(event(f"evt_f1-{db}_{lane}_{k}", "message.delivered", k))

            async def batch(lane: int, k: int) -> None:
                ids = [f"evt_fb-{db}_{lane}_{k}_{j}" for j in range(BATCH)]
                await api.publish_batch(
                    [event(x, "message.delivered", j) for j, x in enumerate(ids)]
                )

            def by_wrk(per_request: int, clients: int, tag: str) -> wrk_load.WrkLoad:
                return wrk_load.publish(
                    hl.base,
                    ADMIN_KEY,
                    work=ctx.work,
                    event_type="message.delivered",
                    id_prefix=f"evt_{tag}-{db}_",
                    per_request=per_request,
                    connections=clients,
                    seconds=sz.ingest_seconds,
                )

            # the Python client's load first, wrk's after it: wrk meets the larger backlog
            single = await _closed_loop(sz.ingest_seconds, sz.ingest_single_clients, one)
            wrk_single = await asyncio.to_thread(by_wrk, 0, sz.ingest_single_clients, "fw1")
            batched = await _closed_loop(sz.ingest_seconds, sz.ingest_batch_clients, batch)
            wrk_batch = await asyncio.to_thread(by_wrk, BATCH, sz.ingest_batch_clients, "fwb")
            _note_retries(out, api)
        await asyncio.sleep(1)
        receipts.poll()
        out.notes += hl.check_alive()
    out.tally = receipts.tally(set(receipts.first_s))
    for load in (wrk_single, wrk_batch):
        if load.socket_errors:
            out.notes.append(f"wrk reported socket errors: {load.socket_errors}")
    out.figures.update(
        single_events=wrk_single.events,
        single_per_s=wrk_single.events / wrk_single.seconds,
        single_p99_ms=wrk_single.p99_ms,
        batch_events=wrk_batch.events,
        batch_per_s=wrk_batch.events / wrk_batch.seconds,
        batch_p99_ms=wrk_batch.p99_ms,
        py_single_events=single.requests,
        py_single_per_s=single.requests / single.seconds,
        py_single_p99_ms=percentile(single.latencies_ms, 99),
        py_batch_events=batched.requests * BATCH,
        py_batch_per_s=batched.requests * BATCH / batched.seconds,
        py_batch_p99_ms=percentile(batched.latencies_ms, 99),
    )
    return out


@dataclass
class _Load:
    requests: int
    seconds: float
    latencies_ms: list[float]


async def _closed_loop(
    seconds: float, clients: int, request: Callable[[int, int], Awaitable[None]]
) -> _Load:
    """``clients`` lanes each sending its next request as soon as the last was answered."""
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds

    async def lane(i: int) -> None:
        k = 0
        while time.monotonic() < stop_at:
            t = time.monotonic()
            await request(i, k)
            latencies.append((time.monotonic() - t) * 1000)
            k += 1

    started = time.monotonic()
    await asyncio.gather(*(lane(i) for i in range(clients)))
    return _Load(len(latencies), time.monotonic() - started, latencies)
