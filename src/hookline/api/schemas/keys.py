"""API key schemas."""

from __future__ import annotations

from typing import get_args

from pydantic import Field

from hookline.api.schemas.common import In, Out, enum
from hookline.core.models import ApiKey, Scope
from hookline.core.timefmt import iso_from_ms


class ApiKeyCreate(In):
    """A new API key."""

    scope: Scope
    """`admin` acts on the whole organization; `agent` only on what its identity owns."""
    agent_handle: str | None = None
    """The identity an `agent` key is bound to (required for `agent`, refused for `admin`)."""
    name: str | None = Field(None, max_length=200)
    """A label to recognise the key by."""


class ApiKeyOut(Out):
    """An API key as listed: never the key itself."""

    id: str
    """The key's id (revoke takes it)."""
    prefix: str
    """The first characters of the key, to recognise it by."""
    scope: str = Field(json_schema_extra=enum(*get_args(Scope)))
    """`admin` or `agent`."""
    agent_identity_id: str | None
    """The identity an `agent` key is bound to."""
    name: str | None
    """Its label."""
    created_at: str
    """When it was created (ISO 8601)."""
    revoked_at: str | None
    """When it was revoked (ISO 8601), or null while it works."""

    @classmethod
    def of(cls, k: ApiKey) -> ApiKeyOut:
        return cls(
            id=k.id,
            prefix=k.prefix,
            scope=k.scope,
            agent_identity_id=k.agent_identity_id,
            name=k.name,
            created_at=iso_from_ms(k.created_at_ms),
            revoked_at=iso_from_ms(k.revoked_at_ms) if k.revoked_at_ms is not None else None,
        )


class ApiKeyCreated(Out):
    """A new API key, with the key itself: shown this once."""

    id: str
    """The key's id."""
    key: str
    """The API key: send it as `X-API-Key` or `Authorization: Bearer`. Hookline keeps only a
    hash."""
    scope: str = Field(json_schema_extra=enum(*get_args(Scope)))
    """`admin` or `agent`."""
    agent_identity_id: str | None
    """The identity an `agent` key is bound to."""
    created_at: str
    """When it was created (ISO 8601)."""


class ApiKeyList(Out):
    """The organization's API keys."""

    api_keys: list[ApiKeyOut]
    """Every key, revoked ones too."""
    has_more: bool = False
    """Always false: every key is listed."""
