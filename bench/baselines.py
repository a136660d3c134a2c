"""The baselines every figure is compared with, on the same receiver, body and signing.

- Celery with a Redis broker and ``requests``: one task per delivery, retries enabled.
- The ceiling: a bare aiohttp loop POSTing signed bodies at a given concurrency, no storage.
- ``wrk`` against nginx: the receiver's own limit.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.api_client import event_data
from bench.receiver import Nginx, Tally
from bench.system import ensure_tool
from hookline.core import ids, profiles
from hookline.services import wire

REPO = Path(__file__).resolve().parent.parent
USER_AGENT = "Hookline-bench-bare/1"
CELERY_READY_TIMEOUT_S = 60.0


@dataclass(frozen=True, kw_only=True)
class Run:
    """One timed delivery run: how many, how long from the first send to the last receipt."""

    deliveries: int
    seconds: float
    tally: Tally
    concurrency: int

    @property
    def per_second(self) -> float:
        return self.deliveries / self.seconds if self.seconds > 0 else 0.0


def _signed(event_id: str, n: int, secret: str, user_agent: str) -> profiles.OutgoingRequest:
    body = wire.render_body(
        profiles.STANDARD,
        event_id=event_id,
        event_type="message.delivered",
        occurred_at_ms=int(time.time() * 1000),
        data=event_data(n),
    )
    return profiles.build_request(
        profiles.STANDARD,
        body=body,
        event_id=event_id,
        secrets=[secret],
        attempt=profiles.AttemptIdentity(
            timestamp_s=int(time.time()), request_id=ids.new_request_id()
        ),
        custom_headers={},
        user_agent=user_agent,
        auth_token=None,
    )


def celery_available() -> bool:
    try:
        import celery  # noqa: F401
        import requests  # noqa: F401
    except ImportError:
        return False
    return True


async def bare_aiohttp(
    nginx: Nginx, prefix: str, targets: int, count: int, concurrency: int
) -> Run:
    """``count`` deliveries spread over ``targets`` URLs, ``concurrency`` at a time."""
    receipts = nginx.receipts(prefix)
    urls = [nginx.url(f"{prefix}/s{i}") for i in range(targets)]
    secret = ids.new_standard_secret()
    expected = [(f"{prefix}/s{n % targets}", f"evt_{prefix[1:]}_{n}") for n in range(count)]
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
    started = time.time()
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=10)
    ) as session:

        async def lane(first: int) -> None:
            for n in range(first, count, concurrency):
                req = _signed(expected[n][1], n, secret, USER_AGENT)
                async with session.post(
                    urls[n % targets], data=req.body, headers=req.headers, allow_redirects=False
                ) as resp:
                    await resp.read()

        await asyncio.gather(*(lane(i) for i in range(concurrency)))
    tally = await receipts.wait_for(expected, timeout_s=60, stall_s=10)
    return Run(
        deliveries=count,
        seconds=(tally.last_s or time.time()) - started,
        tally=tally,
        concurrency=concurrency,
    )


class CeleryWorker:
    """``celery worker`` in prefork mode, started and stopped by the harness."""

    def __init__(self, work: Path, concurrency: int) -> None:
        self.concurrency = concurrency
        self.log = work / "celery-worker.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from bench.celery_app import QUEUE, app

        app.control.purge()
        path = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        with self.log.open("wb") as out:
            self._proc = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "bench.celery_app", "worker",
                    "--pool=prefork", f"--concurrency={self.concurrency}", "-Q", QUEUE,
                    "--loglevel=WARNING", "--without-gossip", "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + CELERY_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"celery worker exited:\n{self.log.read_text()[-2000:]}")
            replies = app.control.ping(timeout=0.5)
            if replies:
                return
        raise RuntimeError("celery worker did not answer a ping")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)


async def celery_run(nginx: Nginx, prefix: str, targets: int, count: int, concurrency: int,
                     work: Path) -> Run:  # fmt: skip
    """``count`` Celery tasks, one per delivery, spread over ``targets`` URLs."""
    from bench.celery_app import deliver

    worker = CeleryWorker(work, concurrency)
    worker.start()
    try:
        receipts = nginx.receipts(prefix)
        secret = ids.new_standard_secret()
        expected = [(f"{prefix}/s{n % targets}", f"evt_{prefix[1:]}_{n}") for n in range(count)]

        def enqueue() -> None:
            for n, (path, event_id) in enumerate(expected):
                deliver.delay(
                    nginx.url(path), event_id, "message.delivered", int(time.time() * 1000),
                    event_data(n), secret,
                )  # fmt: skip

        started = time.time()
        await asyncio.to_thread(enqueue)
        tally = await receipts.wait_for(expected, timeout_s=1800, stall_s=30)
    finally:
        worker.stop()
    return Run(
        deliveries=count,
        seconds=(tally.last_s or time.time()) - started,
        tally=tally,
        concurrency=concurrency,
    )


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{headers}
"""


def wrk(nginx: Nginx, work: Path, duration_s: int, connections: int) -> float:
    """Requests per second nginx answers to signed POSTs from wrk (its own, unlogged path)."""
    binary = ensure_tool("wrk", "wrk")
    req = _signed("evt_wrk", 0, ids.new_standard_secret(), USER_AGENT)
    script = work / "post.lua"
    headers = "\n".join(
        f'wrk.headers["{k}"] = {_lua(v)}' for k, v in req.headers.items() if k != "Content-Type"
    )
    script.write_text(_WRK_SCRIPT.format(body=_lua(req.body.decode()), headers=headers))
    done = subprocess.run(
        [binary, "-t1", f"-c{connections}", f"-d{duration_s}s", "-s", str(script),
         nginx.url("/wrk")],
        capture_output=True, text=True, timeout=duration_s + 60, check=True,
    )  # fmt: skip
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if not found:
        raise RuntimeError(f"unexpected wrk output:\n{done.stdout}")
    return float(found.group(1))


def _lua(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class Baselines:
    """Every baseline of one harness run; None where it was not measured (see ``skipped``)."""

    wrk_rps: float | None = None
    wrk_connections: int = 0
    #: keyed by the number of target URLs (1 and 10)
    bare: dict[int, Run] | None = None
    celery: dict[int, Run] | None = None
    skipped: dict[str, str] | None = None
    notes: list[str] | None = None
