"""argon2id, as Hookline hashes the secrets people choose: console passwords and the
operator's admin key (``HOOKLINE_ADMIN_KEY``).

OWASP's recommended setting: 19 MiB, 2 passes, 1 lane. The library's default (64 MiB, 3
passes, 4 lanes) costs several times as much CPU per check, which on a small server is also
what an attacker spends for free by posting wrong secrets, and what every start spends on
the admin key. A hash records its own setting: those made with another still verify.
"""

from __future__ import annotations

from argon2 import PasswordHasher

MEMORY_KIB = 19_456
TIME_COST = 2
PARALLELISM = 1


def hasher() -> PasswordHasher:
    """The hasher of new hashes."""
    return PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM)
