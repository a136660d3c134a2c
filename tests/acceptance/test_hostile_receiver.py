"""A receiver that answers with a header that never ends, against the running server.

Anyone with a subscription can point it at such a receiver and ask for test sends; each one
must fail promptly with a clear reason, while the server stays responsive and its memory
bounded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from conftest import ADMIN_KEY, Launcher

SENDS = 32
PER_SUBSCRIPTION_CAP = 16  # HOOKLINE_MAX_IN_FLIGHT_PER_SUBSCRIPTION's default
HEALTHZ_PROMPT_S = 1.5  # far above an idle answer on a loaded machine, far below the deadline
RSS_GROWTH_BYTES = 100 * 1024 * 1024
BLOCK = b"x" * 65536


@contextlib.contextmanager
def endless_header_receiver() -> Iterator[int]:
    """A loopback receiver that reads a request, then sends one header forever."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    handlers: set[asyncio.Task[None]] = set()
    port = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
            while True:
                writer.write(BLOCK)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()
            handlers.discard(task)

    async def main() -> None:
        nonlocal port
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        started.set()
        await stop.wait()
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()

    def run() -> None:
        loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_test_sends_to_an_endless_header_stay_bounded(launcher: Launcher, tmp_path: Path) -> None:
    server = launcher.serve(f"sqlite:///{tmp_path}/hookline.db")
    pid = server.procs[0].popen.pid
    with endless_header_receiver() as port:
        resp = server.api(
            "POST",
            "/webhooks/subscriptions",
            json={"url": f"http://127.0.0.1:{port}/hook", "event_types": ["message.delivered"]},
        )
        assert resp.status_code == 201, resp.text
        test_path = f"/api/v1/webhooks/subscriptions/{resp.json()['id']}/test"
        body = {"event_type": "message.delivered"}

        def send_test() -> httpx.Response:
            with httpx.Client(
                base_url=server.base, headers={"X-API-Key": ADMIN_KEY}, timeout=60
            ) as client:
                return client.post(test_path, json=body)

        first = send_test()  # warms the server up: its baseline includes what one send made
        assert first.status_code == 200, first.text
        baseline = rss_bytes(pid)
        peak, slowest_healthz_s = baseline, 0.0
        with (
            concurrent.futures.ThreadPoolExecutor(SENDS) as pool,
            httpx.Client(base_url=server.base, timeout=30) as probe,
        ):
            sends = [pool.submit(send_test) for _ in range(SENDS)]
            while not all(s.done() for s in sends):
                asked = time.monotonic()
                assert probe.get("/healthz").status_code == 200
                slowest_healthz_s = max(slowest_healthz_s, time.monotonic() - asked)
                peak = max(peak, rss_bytes(pid))
            answers = [s.result() for s in sends]
    peak = max(peak, rss_bytes(pid))
    assert slowest_healthz_s < HEALTHZ_PROMPT_S
    assert peak - baseline < RSS_GROWTH_BYTES
    # a subscription takes as many test sends at once as its cap (16 by default); the others
    # are refused at once, naming the bound, rather than waiting (services/send_limits.py)
    sent = [a for a in [first, *answers] if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert len(sent) >= PER_SUBSCRIPTION_CAP, [a.text for a in refused]
    for answer in refused:
        assert answer.status_code == 429, answer.text
        assert "most at once" in answer.json()["detail"]
    for answer in sent:
        attempt = answer.json()
        assert attempt["success"] is False
        assert "response headers too large" in attempt["error_detail"]
