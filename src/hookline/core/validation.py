"""Field rules shared by every edge. Each failure names its field."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from urllib.parse import urlsplit

from hookline.core.catalog import NOT_SUBSCRIBABLE
from hookline.core.errors import ValidationFailed
from hookline.core.profiles import PROFILES

MAX_URL_LEN = 2048
MAX_EVENT_TYPES = 100
MAX_HEADERS = 20
MAX_HEADER_VALUE_LEN = 1024
MAX_DOMAINS = 100

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_HANDLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
#: the same rules as JSON Schema patterns, for the OpenAPI document
E164_PATTERN = _E164.pattern
EMAIL_PATTERN = _EMAIL.pattern
HANDLE_PATTERN = _HANDLE.pattern
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
#: headers a subscription may not set: Hookline owns them, or HTTP does
_RESERVED_HEADERS = frozenset(
    h.lower()
    for h in (
        "Content-Type",
        "Content-Length",
        "Host",
        "User-Agent",
        "Transfer-Encoding",
        "Connection",
        "Authorization",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "X-Inkbox-Request-ID",
        "X-Inkbox-Timestamp",
        "X-Inkbox-Signature",
        "X-Inbox-Signature",
        "X-Signature",
    )
)


def url(value: str, *, allow_http: bool, field: str = "url") -> str:
    """An absolute https URL (http only when allowed) with a host and no credentials."""
    if len(value) > MAX_URL_LEN:
        raise ValidationFailed(field, f"at most {MAX_URL_LEN} characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValidationFailed(field, f"not a valid URL: {exc}") from exc
    del port
    if parts.scheme not in ("https", "http"):
        raise ValidationFailed(field, "must be an https:// URL")
    if parts.scheme == "http" and not allow_http:
        raise ValidationFailed(field, "must be an https:// URL (http is not allowed here)")
    if not parts.hostname:
        raise ValidationFailed(field, "must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed(field, "must not carry credentials; use auth_token or headers")
    if any(c.isspace() for c in value):
        raise ValidationFailed(field, "must not contain whitespace")
    return value


def event_types(
    values: Iterable[str], *, known: Collection[str], field: str = "event_types"
) -> tuple[str, ...]:
    """A non-empty list of distinct catalog types that can be subscribed to."""
    out: list[str] = []
    for i, t in enumerate(values):
        if t in out:
            raise ValidationFailed(f"{field}[{i}]", f"{t!r} is repeated")
        if t in NOT_SUBSCRIBABLE:
            raise ValidationFailed(
                f"{field}[{i}]",
                f"{t!r} is answered synchronously; configure it on the phone number instead",
            )
        if t not in known:
            raise ValidationFailed(f"{field}[{i}]", f"{t!r} is not in the event catalog")
        out.append(t)
    if not out:
        raise ValidationFailed(field, "must name at least one event type")
    if len(out) > MAX_EVENT_TYPES:
        raise ValidationFailed(field, f"at most {MAX_EVENT_TYPES} event types")
    return tuple(out)


def profile(value: str, field: str = "profile") -> str:
    if value not in PROFILES:
        raise ValidationFailed(field, f"must be one of {', '.join(PROFILES)}")
    return value


#: what every custom header's value reads back as: values are secrets (a receiver's API key,
#: say). Sent back unchanged in an update, it keeps the value stored under that name.
HEADER_MASK = "•" * 8


def masked_headers(values: Mapping[str, str]) -> dict[str, str]:
    """The names of ``values``, each with the mask for its value."""
    return dict.fromkeys(values, HEADER_MASK)


def unmask_headers(
    values: Mapping[str, str], stored: Mapping[str, str], field: str = "headers"
) -> dict[str, str]:
    """``values`` with each masked value replaced by the one ``stored`` under that name
    (matched without regard to case, as HTTP does); a masked value for a name that has none
    stored is refused."""
    by_lower = {name.lower(): value for name, value in stored.items()}
    out: dict[str, str] = {}
    for name, value in values.items():
        if value == HEADER_MASK:
            if name.lower() not in by_lower:
                raise ValidationFailed(
                    f"{field}.{name}",
                    "is the mask shown on read, and no value is stored under this name: "
                    "send the real value",
                )
            value = by_lower[name.lower()]
        out[name] = value
    return out


def headers(values: Mapping[str, str], field: str = "headers") -> dict[str, str]:
    if len(values) > MAX_HEADERS:
        raise ValidationFailed(field, f"at most {MAX_HEADERS} headers")
    out: dict[str, str] = {}
    seen: set[str] = set()
    for name, val in values.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValidationFailed(f"{field}.{name}", "not a valid header name")
        if name.lower() in _RESERVED_HEADERS:
            raise ValidationFailed(f"{field}.{name}", "is set by Hookline and cannot be overridden")
        if name.lower() in seen:
            raise ValidationFailed(f"{field}.{name}", "is repeated")
        if len(val) > MAX_HEADER_VALUE_LEN or any(c in val for c in "\r\n\0"):
            raise ValidationFailed(f"{field}.{name}", "value too long or has control characters")
        seen.add(name.lower())
        out[name] = val
    return out


def _one_domain(value: str, field: str) -> str:
    norm = value.strip().lower().rstrip(".")
    if not _DOMAIN.match(norm):
        raise ValidationFailed(field, f"{value!r} is not a domain name")
    return norm


def domains(values: Iterable[str], field: str = "filters.domains") -> tuple[str, ...]:
    out: list[str] = []
    for i, d in enumerate(values):
        norm = _one_domain(d, f"{field}[{i}]")
        if norm not in out:
            out.append(norm)
    if len(out) > MAX_DOMAINS:
        raise ValidationFailed(field, f"at most {MAX_DOMAINS} domains")
    return tuple(out)


def domain(value: str, field: str = "domain") -> str:
    return _one_domain(value, field)


def e164(value: str, field: str = "number") -> str:
    if not _E164.fullmatch(value):
        raise ValidationFailed(field, "must be an E.164 number such as +15551234567")
    return value


def email(value: str, field: str = "email_address") -> str:
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValidationFailed(field, "must be an email address")
    return value.lower()


def agent_handle(value: str, field: str = "agent_handle") -> str:
    if not _HANDLE.fullmatch(value):
        raise ValidationFailed(
            field, "1-128 characters: letters, digits, '_', '.', '-', starting alphanumeric"
        )
    return value
