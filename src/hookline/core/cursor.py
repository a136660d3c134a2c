"""Keyset cursors of the attempt log: an opaque token for "after this row" in the log's order.

A cursor names the last row of a page by its (created_ms, id). Reading the next page from it
needs no count of the rows before, and rows that arrive meanwhile (newer, so before it in the
order) neither shift it nor repeat on the next page, as they would with an offset.
"""

from __future__ import annotations

import base64
import binascii

from hookline.core.errors import ValidationFailed

_MAX_ID_LEN = 128


def encode(created_ms: int, row_id: str) -> str:
    """The token for the page after the row (``created_ms``, ``row_id``)."""
    raw = f"{created_ms}:{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(token: str, *, field: str = "cursor") -> tuple[int, str]:
    """The (created_ms, id) a token names; ``ValidationFailed`` naming ``field`` if it is not
    one this module made."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        at, sep, row_id = raw.partition(":")
        created_ms = int(at)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationFailed(field, "not a cursor this server returned") from None
    if not sep or not row_id or len(row_id) > _MAX_ID_LEN or created_ms < 0:
        raise ValidationFailed(field, "not a cursor this server returned")
    return created_ms, row_id
