"""The users service on real storage (SQLite and PostgreSQL), with a controlled clock:
passwords, sessions' idle and absolute expiry, revocation, the set-up link."""

from __future__ import annotations

import pytest

from hookline.core.errors import Conflict, NotFound, ValidationFailed
from hookline.services.users import TOUCH_EVERY_MS, UserService
from hookline.storage.base import Storage

from .conftest import NOW_MS, make_identity

IDLE_S, MAX_AGE_S = 600, 3600
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.ms = NOW_MS

    def now_ms(self) -> int:
        return self.ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def users(storage: Storage, clock: Clock) -> UserService:
    return UserService(storage, clock, idle_s=IDLE_S, max_age_s=MAX_AGE_S)


async def test_authenticate(users: UserService) -> None:
    created = await users.create("Ann@Example.com", PASSWORD, "admin")
    assert created.email == "ann@example.com"
    assert await users.authenticate("ANN@example.com ", PASSWORD) == created
    assert await users.authenticate("ann@example.com", PASSWORD + "!") is None
    assert await users.authenticate("bob@example.com", PASSWORD) is None
    assert await users.authenticate("ann@example.com", "x" * 5000) is None
    with pytest.raises(Conflict):
        await users.create("ann@example.com", PASSWORD, "viewer")
    await users.disable("ann@example.com")
    assert await users.authenticate("ann@example.com", PASSWORD) is None


async def test_creation_rules(users: UserService, storage: Storage) -> None:
    with pytest.raises(ValidationFailed) as short:
        await users.create("a@example.com", "short", "admin")
    assert short.value.field == "password"
    with pytest.raises(ValidationFailed) as role:
        await users.create("a@example.com", PASSWORD, "owner")
    assert role.value.field == "role"
    with pytest.raises(ValidationFailed) as handle:
        await users.create("a@example.com", PASSWORD, "agent")
    assert handle.value.field == "agent_handle"
    with pytest.raises(ValidationFailed) as email:
        await users.create("not an email", PASSWORD, "admin")
    assert email.value.field == "email"
    org = await users.organization()
    ident = make_identity(org.id, "bot")
    await storage.insert_identity(ident)
    agent = await users.create("bot@example.com", PASSWORD, "agent", "bot")
    assert agent.agent_identity_id == ident.id
    with pytest.raises(ValidationFailed):
        await users.create("v@example.com", PASSWORD, "viewer", "bot")


async def test_a_session_lives_while_used_and_ends_when_idle(
    users: UserService, clock: Clock
) -> None:
    user = await users.create("ann@example.com", PASSWORD, "admin")
    signed = await users.start_session(user)
    assert signed.session.id != signed.token  # only the token's hash is stored
    step_ms = max(TOUCH_EVERY_MS, 1000)
    for _ in range(3):  # kept alive by use, well past one idle period in all
        clock.ms += IDLE_S * 1000 - step_ms
        assert await users.session(signed.token) is not None
    clock.ms += IDLE_S * 1000
    assert await users.session(signed.token) is None
    assert await users.session("made-up") is None
    assert await users.session(None) is None


async def test_a_session_ends_at_its_absolute_expiry(users: UserService, clock: Clock) -> None:
    user = await users.create("ann@example.com", PASSWORD, "admin")
    signed = await users.start_session(user)
    while clock.ms + IDLE_S * 500 < NOW_MS + MAX_AGE_S * 1000:
        assert await users.session(signed.token) is not None
        clock.ms += IDLE_S * 500
    clock.ms = NOW_MS + MAX_AGE_S * 1000
    assert await users.session(signed.token) is None


async def test_sign_out_and_password_changes_revoke(users: UserService) -> None:
    user = await users.create("ann@example.com", PASSWORD, "admin")
    one, two, three = [await users.start_session(user) for _ in range(3)]
    await users.sign_out(one.session)
    assert await users.session(one.token) is None
    assert await users.session(two.token) is not None
    with pytest.raises(ValidationFailed):
        await users.change_password(user, "wrong password", "a new long password")
    await users.change_password(user, PASSWORD, "a new long password")
    assert await users.session(two.token) is None
    assert await users.session(three.token) is None
    assert await users.authenticate("ann@example.com", "a new long password") is not None
    four = await users.start_session(user)
    await users.reset_password("ann@example.com", "yet another password")
    assert await users.session(four.token) is None
    with pytest.raises(NotFound):
        await users.reset_password("nobody@example.com", "yet another password")


async def test_the_setup_link(users: UserService) -> None:
    token = await users.setup_token_if_no_users()
    assert token is not None
    with pytest.raises(NotFound):
        await users.set_up_first_admin("not-the-token", "a@example.com", PASSWORD)
    admin = await users.set_up_first_admin(token, "a@example.com", PASSWORD)
    assert admin.role == "admin"
    assert await users.setup_token_if_no_users() is None
    with pytest.raises(NotFound):
        await users.set_up_first_admin(token, "b@example.com", PASSWORD)
