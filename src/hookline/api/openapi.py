"""What the OpenAPI document says about errors: Hookline's one error body, per status.

Routes name the statuses they can answer with ``responses=errors(401, 404, ...)``; each gets
the body ``api.errors`` really sends, a description and an example. Declaring 422 here also
keeps FastAPI from adding its own validation-error schema, which is not the body Hookline sends.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field


class ErrorItem(BaseModel):
    """One problem with the request."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    field: str = Field(examples=["event_types[0]"])
    """Where the problem is: a dotted path into the body (``events[2].type``), or the name
    of a query or path parameter."""
    message: str = Field(examples=["'message.nope' is not in the event catalog"])
    """What is wrong with it."""


class ErrorOut(BaseModel):
    """Hookline's error body: ``detail`` always, ``errors`` when fields are to blame."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    detail: str
    """A sentence saying what went wrong."""
    errors: list[ErrorItem] | None = None
    """The fields at fault, one entry each (422 answers)."""


_MEANING: dict[int, tuple[str, str]] = {
    401: (
        "No API key, or one that is unknown or revoked (the answer carries "
        "`WWW-Authenticate: Bearer`).",
        "the API key is unknown or revoked",
    ),
    403: (
        "The key is valid but may not do this (an agent key outside its identity, or an "
        "action that needs an admin key).",
        "this action needs an admin API key",
    ),
    404: (
        "No such resource, or one this key may not see.",
        "subscription '0b7c5a52-5f0e-4a8e-9a51-2f4d3b0c9e11' not found",
    ),
    409: (
        "The resource's current state forbids the action.",
        "identity is still referenced by mailboxes; remove those first",
    ),
    413: (
        "The request body is larger than the server's bound, or a part of it is (an event's "
        "`data`, a batch's length).",
        "request body larger than 1048576 bytes",
    ),
    422: (
        "The request breaks a rule; `errors` names each field at fault.",
        "url: must be an https:// URL",
    ),
    429: (
        "Too many failed authentications from this client address; `Retry-After` says when "
        "to try again.",
        "too many failed authentications: try again in 3 s",
    ),
    503: (
        "The database is unreachable, full or read-only; `Retry-After` says when to try again.",
        "storage unavailable: the database cannot be reached; try again shortly",
    ),
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that can answer each of ``statuses`` with an error.

    A route that checks an API key (401) can also answer 429, the key check being refused for
    a while to a client address that failed it too often, and 503, since the key is read from
    the database, which may be unreachable, full or read-only."""
    out: dict[int | str, dict[str, Any]] = {}
    if 401 in statuses:
        statuses = (*statuses, *(s for s in (429, 503) if s not in statuses))
    for status in sorted(statuses):
        description, detail = _MEANING[status]
        example: dict[str, Any] = {"detail": detail}
        if status == 422:
            example["errors"] = [{"field": "url", "message": "must be an https:// URL"}]
        out[status] = {
            "model": ErrorOut,
            "description": description,
            "content": {"application/json": {"example": example}},
        }
    return out


#: the schema FastAPI's own 422 answers refer to
_FASTAPI_422 = "#/components/schemas/HTTPValidationError"


def install(app: FastAPI) -> None:
    """Make the document say only what is true of errors: FastAPI declares its own 422 on
    every operation with a parameter, also where nothing can fail to validate (a path's
    string); routes that can answer 422 declare it themselves with ``errors``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                webhooks=app.webhooks.routes,
                tags=app.openapi_tags,
            )
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    if _FASTAPI_422 in json.dumps(responses.get("422", {})):
                        del responses["422"]
            schemas = document.get("components", {}).get("schemas", {})
            if _FASTAPI_422 not in json.dumps(document):
                schemas.pop("HTTPValidationError", None)
                schemas.pop("ValidationError", None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
