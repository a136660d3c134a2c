"""API key schemas."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hookline.api.schemas.common import In, Out
from hookline.core.models import ApiKey
from hookline.core.timefmt import iso_from_ms


class ApiKeyCreate(In):
    scope: Literal["admin", "agent"]
    agent_handle: str | None = None
    name: str | None = Field(None, max_length=200)


class ApiKeyOut(Out):
    id: str
    prefix: str
    scope: str
    agent_identity_id: str | None
    name: str | None
    created_at: str
    revoked_at: str | None

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
    id: str
    key: str
    scope: str
    agent_identity_id: str | None
    created_at: str


class ApiKeyList(Out):
    api_keys: list[ApiKeyOut]
    #: always false: every key is listed
    has_more: bool = False
