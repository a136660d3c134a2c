"""Classifying what an endpoint answered."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from hookline.core.frozen import frozen


@frozen
class SendResult:
    """What one HTTP attempt produced (a status, or an error when there was no answer)."""

    status: int | None
    body: str | None
    error: str | None
    duration_ms: int
    retry_after: str | None = None
    #: the answer's headers as stored in the log (see ``core.attempt_headers``)
    headers: str | None = None


@frozen
class Outcome:
    success: bool
    status: int | None
    error: str | None
    #: seconds the endpoint asked us to wait (429/503 only)
    retry_after_s: float | None = None
    #: 410 Gone: the endpoint wants no more deliveries
    gone: bool = False


def parse_retry_after(value: str | None, now_s: float) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    # isascii: str.isdigit() also accepts characters such as "²" that float() rejects
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when.timestamp() - now_s, 0.0)


def classify(
    *, status: int | None, error: str | None, retry_after: str | None = None, now_s: float = 0.0
) -> Outcome:
    """Success only on 2xx. A 3xx is a failure: redirects are never followed."""
    if status is None:
        return Outcome(success=False, status=None, error=error or "no response")
    if 200 <= status < 300:
        return Outcome(success=True, status=status, error=None)
    if status == 410:
        return Outcome(success=False, status=status, error="410 Gone", gone=True)
    wait = parse_retry_after(retry_after, now_s) if status in (429, 503) else None
    reason = error or (
        f"redirect not followed ({status})" if 300 <= status < 400 else f"HTTP {status}"
    )
    return Outcome(success=False, status=status, error=reason, retry_after_s=wait)
