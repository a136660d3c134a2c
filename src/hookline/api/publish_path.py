"""The publish endpoints' own road through the app: ``POST /api/v1/events`` and ``/batch``.

Publishing is the one call a platform makes for every event, and FastAPI's routing,
dependency solving and response validation cost more CPU than the publish itself (measured:
about 40 % of the embedded process at 500 events/s). This pure ASGI middleware answers those
two routes with the same services, schemas and error bodies the routers use, and passes
everything else on. The routes stay declared in ``routers/events.py`` for the OpenAPI
document, and a request it does not fully understand (another content type, say) goes there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from hookline.api.errors import domain_error_body, validation_error_body
from hookline.api.schemas.events import EventBatchIn, EventIn, published_json
from hookline.core.errors import HooklineError
from hookline.services.container import Services

EVENTS_PATH = "/api/v1/events"
BATCH_PATH = "/api/v1/events/batch"

T = TypeVar("T")

_EVENT = TypeAdapter(EventIn)
_BATCH = TypeAdapter(EventBatchIn)


class PublishPath:
    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or path not in (EVENTS_PATH, BATCH_PATH)
        ):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        if not _is_json(headers.get(b"content-type")):
            await self.app(scope, receive, send)  # FastAPI answers what it makes of it
            return
        body = await _read_body(receive)
        try:
            status, payload = await self._publish(path == BATCH_PATH, headers, body)
        except HooklineError as exc:
            status, error, extra = domain_error_body(exc)
            await _respond(send, status, json.dumps(error).encode(), extra)
            return
        await _respond(send, status, payload, {})

    async def _publish(
        self, batch: bool, headers: dict[bytes, bytes], body: bytes
    ) -> tuple[int, bytes]:
        principal = await self.services.keys.authenticate(_api_key(headers))
        publish = self.services.publishing.publish
        if batch:
            many = _parse(_BATCH.validate_json, body)
            if isinstance(many, bytes):
                return 422, many
            results = await publish(principal, [e.to_input() for e in many.events], batch=True)
            return 202, published_json(results, batch=True)
        one = _parse(_EVENT.validate_json, body)
        if isinstance(one, bytes):
            return 422, one
        published = await publish(principal, [one.to_input()], batch=False)
        return 202, published_json(published, batch=False)


def _parse(validate: Callable[[bytes], T], body: bytes) -> T | bytes:
    """The validated body, or the 422 answer the routers would give."""
    try:
        return validate(body)
    except ValidationError as exc:
        errors = [
            {"loc": ("body", *e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)
        ]
        return json.dumps(validation_error_body(errors)).encode()


def _headers(scope: Scope) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        out.setdefault(name, value)  # the first of a repeated header, as Starlette reads it
    return out


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    main = content_type.split(b";", 1)[0].strip().lower()
    return main == b"application/json"


def _api_key(headers: dict[bytes, bytes]) -> str | None:
    """As ``deps.get_principal``: ``X-API-Key``, else a Bearer ``Authorization``."""
    raw = headers.get(b"x-api-key")
    if raw is not None:
        return raw.decode("latin-1")
    auth = headers.get(b"authorization")
    if auth:
        scheme, _, token = auth.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer":
            return token.strip()
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, extra: dict[str, str]) -> None:
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
