"""One error hierarchy for the whole domain.

::

    HooklineError
    ├── ValidationFailed      input that breaks a rule (field named)      → 422
    ├── NotFound              no such resource visible to the caller      → 404
    ├── Unauthenticated       no key, unknown key, revoked key            → 401
    ├── Forbidden             a known caller acting outside its scope     → 403
    ├── Conflict              the resource's state forbids the action     → 409
    │   └── EventConflict     an event id published before, other content
    ├── PayloadTooLarge       a body past the configured bound            → 413
    ├── TooManyRequests       a caller past a rate limit (retry_after_s)  → 429
    └── StorageUnavailable    the database is unreachable, full or        → 503
                              read-only (retry_after_s)

The HTTP status for each is chosen in one place, ``hookline.api.errors``.
"""

from __future__ import annotations


class HooklineError(Exception):
    """Base of every domain error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(HooklineError):
    """Input that breaks a rule; ``field`` names where (dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class NotFound(HooklineError):
    """No such resource, or one the caller may not see."""

    def __init__(self, kind: str, key: str, *, note: str | None = None) -> None:
        super().__init__(f"{kind} {key!r} not found" + (f" ({note})" if note else ""))
        self.kind = kind
        self.key = key


class Unauthenticated(HooklineError):
    """The request carries no valid API key."""


class Forbidden(HooklineError):
    """The caller is known but may not do this."""


class Conflict(HooklineError):
    """The resource's current state forbids the action; ``field`` names the input at stake,
    when one is."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class EventConflict(Conflict):
    """An event id stored already with other content: its type, data, owner or domain
    (``differs`` says which). ``index`` is the event's place in the items written."""

    def __init__(
        self, event_id: str, *, differs: str, index: int = 0, field: str | None = None
    ) -> None:
        super().__init__(
            f"event {event_id!r} was published before with a different {differs}: "
            "an event id names one event, and a repeat must carry the same content",
            field=field,
        )
        self.event_id = event_id
        self.differs = differs
        self.index = index


class PayloadTooLarge(HooklineError):
    """A request body or list is larger than allowed."""


class TooManyRequests(HooklineError):
    """The caller is past a rate limit; it may try again after ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StorageUnavailable(HooklineError):
    """The database cannot do what was asked now: unreachable, full or read-only. Nothing
    the caller sent is wrong; the same request may succeed after ``retry_after_s`` seconds.
    The storage layer raises it in place of its drivers' errors (storage/outage.py)."""

    RETRY_AFTER_S = 5

    def __init__(self, reason: str) -> None:
        super().__init__(f"storage unavailable: {reason}; try again shortly")
        self.reason = reason
        self.retry_after_s = self.RETRY_AFTER_S


#: why a logged event or attempt may be gone: said with its 404
PRUNED_NOTE = "it may have been pruned: finished deliveries are kept HOOKLINE_RETENTION_DAYS days"
