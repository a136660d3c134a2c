"""The async stack a Python team would build instead, as a baseline: arq on Redis, one job per
delivery, one shared aiohttp session per worker, retries enabled. It signs exactly as
Hookline's ``standard`` profile does.

The harness runs it in arq's own virtualenv (bench/arq_env.py): ``python -m arq
bench.arq_app.WorkerSettings`` with ``BENCH_ARQ_MAX_JOBS`` set to the run's concurrency, and
``python -m bench.arq_app JOBS.json`` to enqueue one job per delivery.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from arq import Retry
from arq.connections import RedisSettings, create_pool

from bench.signed import signed_request

REDIS = RedisSettings.from_dsn(os.environ.get("BENCH_ARQ_REDIS", "redis://127.0.0.1:6379/14"))
QUEUE = "hookline-bench-arq"
TIMEOUT_S = 10  # per attempt, as Hookline's default
MAX_TRIES = 6  # the first try and five retries, as the Celery baseline
USER_AGENT = "Hookline-bench-arq/1"


async def _startup(ctx: dict[str, Any]) -> None:
    # one pooled session for every job of this worker, with room for all of them at once
    connector = aiohttp.TCPConnector(limit=WorkerSettings.max_jobs, limit_per_host=0)
    ctx["http"] = aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)
    )


async def _shutdown(ctx: dict[str, Any]) -> None:
    await ctx["http"].close()


async def deliver(
    ctx: dict[str, Any],
    url: str,
    event_id: str,
    event_type: str,
    occurred_at_ms: int,
    data: dict[str, Any],
    secret: str,
) -> None:
    request = signed_request(
        event_id=event_id,
        event_type=event_type,
        occurred_at_ms=occurred_at_ms,
        data=data,
        secret=secret,
        user_agent=USER_AGENT,
    )
    session: aiohttp.ClientSession = ctx["http"]
    try:
        async with session.post(
            url, data=request.body, headers=request.headers, allow_redirects=False
        ) as resp:
            await resp.read()
            ok = 200 <= resp.status < 300
    except (aiohttp.ClientError, TimeoutError):
        ok = False
    if not ok:  # a network error or a non-2xx answer is retried, backing off
        raise Retry(defer=2 ** ctx["job_try"])


class WorkerSettings:
    functions = [deliver]  # noqa: RUF012 (arq reads these class attributes)
    redis_settings = REDIS
    queue_name = QUEUE
    max_jobs = int(os.environ.get("BENCH_ARQ_MAX_JOBS", "16"))
    max_tries = MAX_TRIES
    job_timeout = TIMEOUT_S * 2
    keep_result = 0  # as Celery's task_ignore_result: nothing reads the results
    poll_delay = 0.05  # s between polls of an empty queue (arq's default is 0.5)
    on_startup = _startup
    on_shutdown = _shutdown


async def _enqueue(jobs_file: str) -> None:
    """Empty the baseline's Redis database, then enqueue every job of ``jobs_file``: a JSON
    object with ``secret`` and ``jobs``, each ``[url, event_id, data]``."""
    spec = json.loads(Path(jobs_file).read_text())  # noqa: ASYNC240 (read before any job)
    redis = await create_pool(REDIS)
    try:
        for url, event_id, data in spec["jobs"]:
            await redis.enqueue_job(
                "deliver", url, event_id, "message.delivered", int(time.time() * 1000), data,
                spec["secret"], _queue_name=QUEUE,
            )  # fmt: skip
    finally:
        await redis.aclose()


async def _flush() -> None:
    redis = await create_pool(REDIS)
    try:
        await redis.flushdb()  # the baseline's own database: jobs left by an earlier run
    finally:
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(_flush() if sys.argv[1] == "--flush" else _enqueue(sys.argv[1]))
