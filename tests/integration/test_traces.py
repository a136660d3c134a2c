"""OpenTelemetry: a publish and each attempt of its deliveries form one trace (the app and
a worker in one process, as ``serve`` runs them), read from the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hookline.api import create_app
from hookline.config import Settings
from hookline.server import build_sender, prepare, running_worker
from hookline.services.container import Services
from hookline.tracing import Tracing

ADMIN_KEY = "hl_trace_admin_key_0123456789abcdef"


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback receiver answering 500 once, then 200."""
    answers = [500, 200]

    async def hook(_: web.Request) -> web.Response:
        return web.Response(status=answers.pop(0) if len(answers) > 1 else answers[0])

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hook", answers
    await runner.cleanup()


async def test_a_publish_and_its_attempts_are_one_trace(
    tmp_path: Path, receiver: tuple[str, list[int]]
) -> None:
    url, _ = receiver
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/hookline.db",
        admin_key=ADMIN_KEY,
        allow_http=True,
        allowed_networks="127.0.0.0/8",
        retry_schedule="0,1",
        poll_interval_s=0.1,
    )
    sender = build_sender(settings)
    services = Services.build(settings, transport=sender, tracing=Tracing(provider))
    await prepare(services, migrate=True)
    app = create_app(services)
    await sender.start()
    try:
        async with (
            running_worker(services, sender),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://hookline",
                headers={"X-API-Key": ADMIN_KEY},
            ) as client,
        ):
            sub = await client.post(
                "/api/v1/webhooks/subscriptions",
                json={"url": url, "event_types": ["message.delivered"]},
            )
            assert sub.status_code == 201, sub.text
            published = await client.post(
                "/api/v1/events",
                json={"id": "evt_traced", "type": "message.delivered", "data": {}},
            )
            assert published.status_code == 202, published.text

            def attempts() -> list[object]:
                spans = exporter.get_finished_spans()
                return [s for s in spans if s.name == "hookline.attempt"]

            for _ in range(1000):  # the 500, then the retry's 200 (20 s at most)
                if len(attempts()) >= 2:
                    break
                await asyncio.sleep(0.02)
    finally:
        await sender.close()
        await services.storage.close()

    spans = exporter.get_finished_spans()
    [publish] = [s for s in spans if s.name == "hookline.publish"]
    tried = [s for s in spans if s.name == "hookline.attempt"]
    assert publish.context is not None
    trace_id = publish.context.trace_id
    assert [s.context.trace_id for s in tried if s.context] == [trace_id, trace_id]
    assert all(s.parent is not None and s.parent.span_id == publish.context.span_id for s in tried)
    assert [s.attributes["hookline.attempt"] for s in tried if s.attributes] == [1, 2]
    assert [s.attributes.get("http.response.status_code") for s in tried if s.attributes] == [
        500,
        200,
    ]
    assert not tried[0].status.is_ok and tried[1].status.is_unset
