"""Shared schema pieces."""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel, ConfigDict


class In(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


def json_response(body: Out, status_code: int) -> Response:
    """``body`` serialized once, as is: FastAPI would validate a returned model against the
    response model again first (routes using this declare ``response_model`` for the docs)."""
    return Response(body.model_dump_json(), status_code=status_code, media_type="application/json")
