"""The bytes of a body on the wire: a profile (``core.profiles``) gives its shape, this writes
it, with the same JSON encoder the publish stores an event's data with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic_core import to_json

from hookline.core import profiles


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, the form every profile sends: pydantic's encoder, which the publish
    also stores an event's data with, so the data in a body is those stored bytes. It writes
    what ``json.dumps(separators=(",", ":"), ensure_ascii=False)`` does but for an exponent's
    padding (``1.5e-7``, not ``1.5e-07``), several times faster, and every attempt writes a
    body (docs/perf/2026-12-07-attempt-body-encoding.md)."""
    return to_json(obj)


def render_body(
    profile: str, *, event_id: str, event_type: str, occurred_at_ms: int, data: Mapping[str, Any]
) -> bytes:
    """The body of ``profile`` for one event: the exact bytes signed and sent. Deterministic:
    same event, same bytes."""
    return dumps(
        profiles.body_object(
            profile,
            event_id=event_id,
            event_type=event_type,
            occurred_at_ms=occurred_at_ms,
            data=data,
        )
    )
