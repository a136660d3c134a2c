"""The one place HTTP statuses are chosen for errors."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic_core
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hookline.core.errors import (
    Conflict,
    Forbidden,
    HooklineError,
    NotFound,
    PayloadTooLarge,
    StorageUnavailable,
    TooManyRequests,
    Unauthenticated,
    ValidationFailed,
)

STATUS: dict[type[HooklineError], int] = {
    ValidationFailed: 422,
    NotFound: 404,
    Unauthenticated: 401,
    Forbidden: 403,
    Conflict: 409,
    PayloadTooLarge: 413,
    TooManyRequests: 429,
    StorageUnavailable: 503,
}


def status_of(exc: HooklineError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _field(loc: tuple[Any, ...]) -> str:
    """``("body", "events", 2, "type")`` → ``events[2].type``."""
    out = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def domain_error_body(exc: HooklineError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, JSON body and extra headers of a domain error's answer."""
    status = status_of(exc)
    body: dict[str, Any] = {"detail": exc.message}
    if isinstance(exc, ValidationFailed):
        body["errors"] = [{"field": exc.field, "message": exc.reason}]
    elif isinstance(exc, Conflict) and exc.field is not None:
        body["errors"] = [{"field": exc.field, "message": exc.message}]
    elif isinstance(exc, StorageUnavailable):
        body["errors"] = []  # nothing the caller sent is at fault
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if isinstance(exc, TooManyRequests | StorageUnavailable):
        headers["Retry-After"] = str(exc.retry_after_s)
    return status, body, headers


#: pydantic words a type in Python's terms when it validates parsed JSON (as FastAPI's routes
#: do) and in JSON's when it parses the JSON itself (as the publish road does): a client reads
#: JSON's, and never the name of a class
_JSON_WORDS = {
    "dict_type": "Input should be an object",
    "model_type": "Input should be an object",
    "model_attributes_type": "Input should be an object",
    "list_type": "Input should be a valid array",
}


def validation_error_body(errors: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The 422 body of pydantic errors (each with ``loc`` and ``msg``)."""
    fields = [
        {
            "field": _field(tuple(e.get("loc", ()))),
            "message": _JSON_WORDS.get(e.get("type", ""), e.get("msg", "invalid")),
        }
        for e in errors
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in fields) or "invalid request"
    return {"detail": detail, "errors": fields}


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HooklineError)
    status, body, headers = domain_error_body(exc)
    return JSONResponse(body, status_code=status, headers=headers or None)


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        errors = [{"loc": ("body",), "msg": _json_problem(exc.body)}]
    return JSONResponse(validation_error_body(errors), status_code=422)


def _json_problem(document: Any) -> str:
    """What is wrong with a body that is not JSON, in the words (and with the line and column)
    pydantic gives when it parses JSON itself, as the publish road does; FastAPI's own error
    says only "JSON decode error" at a character offset."""
    try:
        pydantic_core.from_json(document if isinstance(document, str | bytes) else b"")
    except ValueError as problem:
        return f"Invalid JSON: {problem}"
    return "Invalid JSON"


def _allowed(request: Request) -> str | None:
    """The methods the document gives the request's path. Starlette's own ``Allow`` names
    only those of the first route that matched, and a path is often two routes (GET and POST);
    where templates overlap (``/v1/webhooks/test``, ``/v1/webhooks/{webhook_id}``) the most
    literal one is the path's."""
    path = request.scope["path"]
    best: tuple[int, list[str]] | None = None
    for template, operations in request.app.openapi().get("paths", {}).items():
        parts = re.split(r"(\{[^}]+\})", template)
        pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        if re.fullmatch(pattern, path):
            rank = template.count("{")
            if best is None or rank < best[0]:
                best = (rank, [m.upper() for m in operations])
    if best is None:
        return None  # not an API path (/docs, /): Starlette's answer stands
    methods = best[1]
    if "GET" in methods:
        methods.append("HEAD")
    return ", ".join(methods)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's answer to a body it cannot decode (not UTF-8 JSON); Hookline calls bad input
        # 422 and names the field, as for a body that does not validate
        return JSONResponse(
            {"detail": f"body: {exc.detail}", "errors": [{"field": "body", "message": exc.detail}]},
            status_code=422,
        )
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (allowed := _allowed(request)) is not None:
        headers["Allow"] = allowed
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=headers or None
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(HooklineError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
