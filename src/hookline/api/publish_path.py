"""The publish endpoints' own road through the app: ``POST /api/v1/events`` and ``/batch``.

Publishing is the one call a platform makes for every event, and FastAPI's routing,
dependency solving and response validation cost more CPU than the publish itself
(docs/perf/2026-12-02-publish-road-and-http-client.md). This ASGI handler answers those two
routes with the same services, schemas and error bodies the routers use, ahead of the app's
whole middleware stack (``app.HooklineApp`` sends them here), so it keeps the body limit
and answers an unexpected failure itself. The routes stay declared in ``routers/events.py``
for the OpenAPI document, and a request it does not fully understand (another content type,
say) goes there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TypeVar

from pydantic import TypeAdapter, ValidationError
from starlette.types import Receive, Scope, Send

from hookline.api.deps import client_address
from hookline.api.errors import domain_error_body, validation_error_body
from hookline.api.json_depth import too_deep_answer
from hookline.api.limits import declared_too_large, reject_too_large
from hookline.api.routers import API_PREFIX
from hookline.api.schemas.events import EventBatchIn, EventIn, published_json
from hookline.core.errors import HooklineError
from hookline.core.json_depth import too_deep
from hookline.services.container import Services
from hookline.services.publishing import EventInput

EVENTS_PATH = API_PREFIX + "/events"
BATCH_PATH = API_PREFIX + "/events/batch"

T = TypeVar("T")

log = logging.getLogger("hookline.api")

_EVENT = TypeAdapter(EventIn)
_BATCH = TypeAdapter(EventBatchIn)


class BodyTooLarge(Exception):
    pass


class PublishPath:
    def __init__(self, services: Services, max_body_bytes: int) -> None:
        self.services = services
        self.max_body_bytes = max_body_bytes

    @staticmethod
    def takes(scope: Scope) -> dict[bytes, bytes] | None:
        """The request's headers if this road answers it: a JSON ``POST`` to one of the two
        paths. Anything else (another content type included) is the app's to answer."""
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] not in (EVENTS_PATH, BATCH_PATH)
        ):
            return None
        headers = _headers(scope)
        return headers if _is_json(headers.get(b"content-type")) else None

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes]
    ) -> None:
        answering = False
        try:
            if declared_too_large(headers, self.max_body_bytes):
                answering = True
                await reject_too_large(send, self.max_body_bytes)
                return
            try:
                body = await _read_body(receive, self.max_body_bytes)
            except BodyTooLarge:
                answering = True
                await reject_too_large(send, self.max_body_bytes)
                return
            try:
                status, payload = await self._publish(scope, headers, body)
            except HooklineError as exc:
                status, error, extra = domain_error_body(exc)
                answering = True
                await _respond(send, status, json.dumps(error).encode(), extra)
                return
            answering = True
            await _respond(send, status, payload, {})
        except Exception:
            # as the app's ServerErrorMiddleware does for every other route: log it, and answer
            # 500 unless an answer had begun (then the server closes the connection)
            if answering:
                raise
            log.exception("publish failed: %s %s", scope["method"], scope["path"])
            await _respond(send, 500, json.dumps({"detail": "internal server error"}).encode(), {})

    async def _publish(
        self, scope: Scope, headers: dict[bytes, bytes], body: bytes
    ) -> tuple[int, bytes]:
        principal = await self.services.keys.authenticate(
            _api_key(headers), client=client_address(scope)
        )
        batch = scope["path"] == BATCH_PATH
        if too_deep(body):
            return 422, too_deep_answer()
        publish = self.services.publishing.publish
        if batch:
            inputs = _batch_inputs(body)
            if isinstance(inputs, bytes):
                return 422, inputs
            results = await publish(principal, inputs, batch=True)
            return 202, published_json(results, batch=True)
        one = _parse(_EVENT.validate_json, body)
        if isinstance(one, bytes):
            return 422, one
        published = await publish(principal, [one.to_input()], batch=False)
        return 202, published_json(published, batch=False)


def _batch_inputs(body: bytes) -> list[EventInput] | bytes:
    """The batch's events as the service takes them, or the 422 answer. The parsed models go
    as soon as they are converted, rather than live through the publish: a thousand of them
    outlive the collector's young generations otherwise, and each full collection that
    follows walks every object of the process (docs/perf/2026-12-07-batch-publish-objects.md)."""
    many = _parse(_BATCH.validate_json, body)
    if isinstance(many, bytes):
        return many
    return [e.to_input() for e in many.events]


def _parse(validate: Callable[[bytes], T], body: bytes) -> T | bytes:
    """The validated body, or the 422 answer the routers would give."""
    if not body.strip():  # no body at all: FastAPI's routes call it a missing field
        return _missing_body()
    try:
        return validate(body)
    except ValidationError as exc:
        errors = [
            {"loc": ("body", *e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)
        ]
        return json.dumps(validation_error_body(errors)).encode()


def _missing_body() -> bytes:
    return json.dumps(validation_error_body([{"loc": ("body",), "msg": "Field required"}])).encode()


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


async def _read_body(receive: Receive, max_bytes: int) -> bytes:
    """The whole body, counted as it comes (a chunked one declares no length)."""
    chunks: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > max_bytes:
            raise BodyTooLarge
        chunks.append(chunk)
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
