"""Request JSON nests at most ``MAX_JSON_DEPTH`` levels: a deeper body is answered 422 before
FastAPI parses it (the publish endpoints' own road checks the same in ``publish_path``)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookline.api.errors import validation_error_body
from hookline.core.json_depth import MAX_JSON_DEPTH, too_deep

_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def too_deep_answer() -> bytes:
    """The 422 body for a request whose JSON nests too deeply."""
    message = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    return json.dumps(validation_error_body([{"loc": ("body",), "msg": message}])).encode()


def parsed_as_json(content_type: bytes | None) -> bool:
    """Whether FastAPI reads a body of this content type as JSON (it does without one)."""
    if content_type is None:
        return True
    main = content_type.split(b";", 1)[0].strip().lower()
    return main == b"application/json" or (
        main.startswith(b"application/") and main.endswith(b"+json")
    )


class JsonDepthLimit:
    """Pure ASGI middleware: reads a JSON body whole, answers 422 if it nests too deeply,
    else hands the same body on. It sits inside ``BodyLimit``, which bounds what it reads."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        content_type = next((v for k, v in scope["headers"] if k == b"content-type"), None)
        if not parsed_as_json(content_type):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if too_deep(body):
            answer = too_deep_answer()
            await send(
                {
                    "type": "http.response.start",
                    "status": 422,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(answer)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": answer})
            return
        whole: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([whole], receive), send)


def _replay(first: list[Message], receive: Receive) -> Receive:
    """``receive`` that gives ``first`` back before going on to the real one."""
    pending = list(first)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
