"""The headers of a logged attempt, as stored: one compact JSON object for those sent and one
for those received, so the log can show them without a row per header.

Secrets never reach the log: the Authorization header and every custom header carry values the
subscription's owner set as secrets, so they are stored masked.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence

MASK = "********"
#: the receiver's headers kept per attempt, names and values together: enough to read them,
#: bounded so a receiver cannot grow the log
RESPONSE_HEADERS_CAP_BYTES = 8 * 1024
_COMPACT = (",", ":")


def sent_headers(headers: Mapping[str, str], custom_names: Collection[str]) -> str:
    """The request's headers as JSON, with the bearer token and custom values masked."""
    if not custom_names and "Authorization" not in headers:
        return json.dumps(headers, separators=_COMPACT)  # nothing secret: most attempts
    secret = {name.lower() for name in custom_names}
    secret.add("authorization")
    return json.dumps(
        {k: MASK if k.lower() in secret else v for k, v in headers.items()},
        separators=_COMPACT,
    )


def received_headers(pairs: Sequence[tuple[bytes, bytes]]) -> str:
    """The response's headers (already capped by the reader) as JSON; a repeated name keeps
    its values joined by ", ", as HTTP allows."""
    out: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        out[name] = f"{out[name]}, {value}" if name in out else value
    return json.dumps(out, separators=_COMPACT)


def parse(text: str | None) -> dict[str, str] | None:
    """A stored headers column back as a mapping (None when the attempt kept none)."""
    if text is None:
        return None
    value = json.loads(text)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None
