"""Where each sealed secret lives: the place a ciphertext is bound to (``secretbox.place``),
and the custom headers' sealed form."""

from __future__ import annotations

import json
from collections.abc import Mapping

from hookline.services.secretbox import SecretBox, place

SUBSCRIPTIONS = "subscriptions"
SIGNING_KEYS = "signing_keys"
SECRET_CHECKS = "secret_checks"  # noqa: S105 (a table name)


def sub_place(column: str, sub_id: str) -> str:
    """A subscription's sealed column (``auth_token_enc``, ``secret_enc``,
    ``previous_secret_enc``, ``headers_enc``)."""
    return place(SUBSCRIPTIONS, column, sub_id)


def key_place(key_id: str) -> str:
    """A signing key's row."""
    return place(SIGNING_KEYS, "key_enc", key_id)


def seal_headers(box: SecretBox, values: Mapping[str, str], sub_id: str) -> str | None:
    """The custom headers' values as one sealed JSON object (None when there are none)."""
    if not values:
        return None
    return box.seal(json.dumps(dict(values)), sub_place("headers_enc", sub_id))


def open_headers(box: SecretBox, headers_enc: str, sub_id: str) -> dict[str, str]:
    found: dict[str, str] = json.loads(box.open(headers_enc, sub_place("headers_enc", sub_id)))
    return found
