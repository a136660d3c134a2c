"""The operator's admin key (``HOOKLINE_ADMIN_KEY``): stored as an argon2id hash of
OWASP's setting, hashed once by a start on a new database and verified once by a start on one
that has it; either way the process's requests with it are not verified again."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher

from hookline.core.errors import Unauthenticated
from hookline.services import argon2id
from hookline.services.clock import SystemClock
from hookline.services.keys import ARGON2_SCHEME, OPERATOR_PREFIX_LEN, KeyService
from hookline.storage.base import Storage

OPERATOR_KEY = "an operator's own chosen admin key, 0123"


class Counting(PasswordHasher):
    """argon2id as Hookline sets it, counting its hashes and verifications."""

    def __init__(self) -> None:
        reference = argon2id.hasher()
        super().__init__(
            time_cost=reference.time_cost,
            memory_cost=reference.memory_cost,
            parallelism=reference.parallelism,
        )
        self.hashed = 0
        self.verified = 0

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.hashed += 1
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Any:
        self.verified += 1
        return super().verify(hash, password)


async def test_a_start_on_a_new_database_hashes_the_key_once_and_needs_no_verification(
    storage: Storage,
) -> None:
    hasher = Counting()
    keys = KeyService(storage, SystemClock(), hasher=hasher)
    await keys.bootstrap(OPERATOR_KEY)
    principal = await keys.authenticate(OPERATOR_KEY)
    await keys.authenticate(OPERATOR_KEY)
    assert principal.scope == "admin"
    assert (hasher.hashed, hasher.verified) == (1, 0)
    [(_, stored)] = await storage.api_keys_by_prefix(
        OPERATOR_KEY[:OPERATOR_PREFIX_LEN], ARGON2_SCHEME
    )
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_a_later_start_verifies_the_key_once_and_refuses_a_lookalike(
    storage: Storage,
) -> None:
    await KeyService(storage, SystemClock()).bootstrap(OPERATOR_KEY)
    hasher = Counting()
    keys = KeyService(storage, SystemClock(), hasher=hasher)
    await keys.bootstrap(OPERATOR_KEY)
    await keys.authenticate(OPERATOR_KEY)
    assert (hasher.hashed, hasher.verified) == (0, 1)
    lookalike = OPERATOR_KEY[:-1] + "4"  # the same stored prefix
    with pytest.raises(Unauthenticated):
        await keys.authenticate(lookalike)
    assert hasher.verified == 2
