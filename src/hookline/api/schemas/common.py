"""Shared schema pieces."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from hookline.core.catalog import CATALOG, NOT_SUBSCRIBABLE
from hookline.core.validation import MAX_EVENT_TYPES

#: the wire profiles (``core.profiles.PROFILES``), as a type the OpenAPI document shows as an
#: enum
ProfileName = Literal["standard", "inkbox", "inbox", "inboxroad"]
#: how a phone number answers incoming calls (``services.owners.INCOMING_CALL_ACTIONS``)
IncomingCallAction = Literal["auto_accept", "auto_reject", "webhook"]


#: the types events may be published with and subscriptions may name
SUBSCRIBABLE = tuple(name for name in CATALOG if name not in NOT_SUBSCRIBABLE)


def enum(*values: str) -> dict[str, Any]:
    """``json_schema_extra`` of a string field that holds one of ``values``: the document
    shows the enum, and the services keep checking it with their own messages."""
    return {"enum": list(values)}


#: an event type of the catalog
EventType = Annotated[
    str, Field(json_schema_extra=enum(*SUBSCRIBABLE), examples=["message.delivered"])
]
#: the event types a subscription takes: 1 to 100 distinct subscribable types
EventTypeList = Annotated[
    list[str],
    Field(
        max_length=MAX_EVENT_TYPES,
        json_schema_extra={
            "items": {"type": "string", "enum": list(SUBSCRIBABLE)},
            "minItems": 1,
            "uniqueItems": True,
        },
        examples=[["message.delivered", "message.bounced"]],
    ),
]


#: RFC 3339's date-time, the OpenAPI document's ``format: date-time``: the time and its zone
#: are required (a lax date would also read a date alone, or a number of seconds)
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _date_text(value: object) -> object:
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.fullmatch(value)):
        return value
    raise ValueError("must be an ISO 8601 date and time with a zone, e.g. 2025-01-15T10:25:03Z")


#: a date and time, given as ISO 8601 text: ``In`` is strict, and a strict date would take
#: only a ``datetime`` object (FastAPI hands the routers parsed JSON), a lax one numbers too
IsoDateTime = Annotated[datetime, Field(strict=False), BeforeValidator(_date_text)]


def _number(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


#: an integer as JSON Schema has it: ``3`` and ``3.0``, not ``"3"`` nor ``true``
Int = Annotated[int, Field(strict=False), BeforeValidator(_number)]


class In(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped, and values
    are taken only in their documented JSON type (``"5"`` is no integer, ``0`` no date). A
    string under a field is its description in the OpenAPI document."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=False, strict=True, use_attribute_docstrings=True
    )


class Out(BaseModel):
    """Base of answers; a string under a field is its description, as for ``In``."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


def json_response(body: Out, status_code: int) -> Response:
    """``body`` serialized once, as is: FastAPI would validate a returned model against the
    response model again first (routes using this declare ``response_model`` for the docs)."""
    return Response(body.model_dump_json(), status_code=status_code, media_type="application/json")
