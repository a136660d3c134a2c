"""Console users and their sessions: values and the pure rules of expiry.

People sign in to the console with an email and a password; programs use API keys. A user's
role decides what the console lets them do: ``admin`` manages the organization, ``agent`` sees
what an agent key of its identity sees, ``viewer`` sees what an admin sees and changes nothing.
"""

from __future__ import annotations

from typing import Final, Literal

from hookline.core.frozen import frozen

Role = Literal["admin", "agent", "viewer"]
ROLES: Final = ("admin", "agent", "viewer")
MIN_PASSWORD_LEN = 12
#: argon2 hashes the whole password; this only keeps a huge body from costing a lot of memory
MAX_PASSWORD_LEN = 1024


@frozen
class User:
    id: str
    organization_id: str
    #: stored in lower case; unique within the organization
    email: str
    role: Role
    #: the identity an ``agent`` user acts as (None for the other roles)
    agent_identity_id: str | None
    created_at_ms: int
    password_changed_at_ms: int
    disabled_at_ms: int | None = None

    @property
    def is_active(self) -> bool:
        return self.disabled_at_ms is None


@frozen
class ConsoleSession:
    """A signed-in browser. ``id`` is the SHA-256 of the cookie's token, never the token."""

    id: str
    user_id: str
    created_at_ms: int
    last_seen_at_ms: int
    #: the absolute end, however active the session is
    expires_at_ms: int
    #: the secret that forms and htmx requests of this session carry (CSRF)
    csrf_secret: str
    revoked_at_ms: int | None = None

    def is_live(self, now_ms: int, idle_ms: int) -> bool:
        """Not revoked, before its absolute end, and used within the last ``idle_ms``."""
        return (
            self.revoked_at_ms is None
            and now_ms < self.expires_at_ms
            and now_ms - self.last_seen_at_ms < idle_ms
        )

    def needs_touch(self, now_ms: int, idle_ms: int, every_ms: int) -> bool:
        """Whether to write ``last_seen_at_ms`` now: at most every ``every_ms``, and often
        enough that a short idle timeout does not end an active session."""
        return now_ms - self.last_seen_at_ms >= min(every_ms, idle_ms // 4)
