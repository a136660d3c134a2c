"""Secrets at rest against a real database (SQLite and PostgreSQL): a ciphertext moved to
another row or column does not open; the master key's check value; rotation rewrites every
format and key, and can be run again; header values an earlier version stored plain get
sealed."""

from __future__ import annotations

import base64
import ipaddress
import json
import os

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hookline.core.models import Organization
from hookline.services import master_key
from hookline.services.clock import SystemClock
from hookline.services.destinations import DestinationCheck
from hookline.services.principal import Principal
from hookline.services.sealed_places import key_place, sub_place
from hookline.services.secretbox import SecretBox, SecretUnreadable
from hookline.services.signing import SigningService
from hookline.services.subscription_rules import SubscriptionInput
from hookline.services.subscriptions import SubscriptionService
from hookline.storage import tables as t
from hookline.storage.base import Storage
from hookline.storage.records import SEALED_COLUMNS, SubscriptionSecrets
from hookline.storage.sql import SqlStorage

from .conftest import (
    LEASE_MS,
    NOW_MS,
    behind,
    make_identity,
    make_mailbox,
    make_subscription,
    publish,
)

OLD = "the-old-master-key-0123456789abcdef"
NEW = "the-new-master-key-0123456789abcdef"
MASK = "\u2022" * 8


def _derived(master: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master.encode())


def fernet_seal(master: str, plaintext: str) -> str:
    """As the first versions sealed (see tests/unit/test_secretbox.py)."""
    key = base64.urlsafe_b64encode(_derived(master, b"hookline secrets at rest v1"))
    return Fernet(key).encrypt(plaintext.encode()).decode()


def v2_seal(master: str, plaintext: str) -> str:
    gcm = AESGCM(_derived(master, b"hookline secrets at rest v2 aes-256-gcm"))
    nonce = os.urandom(12)
    sealed = gcm.encrypt(nonce, plaintext.encode(), b"hookline secret")
    return "v2." + base64.urlsafe_b64encode(nonce + sealed).decode()


def _services(storage: Storage, box: SecretBox) -> tuple[SubscriptionService, SigningService]:
    clock = SystemClock()
    subs = SubscriptionService(
        storage,
        clock,
        box,
        allow_http=True,
        default_profile="standard",
        destinations=DestinationCheck([ipaddress.ip_network("127.0.0.0/8")]),
    )
    return subs, SigningService(storage, clock, box)


async def _set(storage: Storage, table: sa.Table, row_id: str, **values: object) -> None:
    assert isinstance(storage, SqlStorage)
    async with behind(storage) as conn:
        await conn.execute(table.update().where(table.c.id == row_id).values(**values))


async def _every_ciphertext(storage: Storage) -> list[str]:
    out: list[str] = []
    for table in SEALED_COLUMNS:
        for row in await storage.sealed_rows(table, None, 1000):
            out.extend(v for v in row.values.values() if v is not None)
    return out


async def test_a_ciphertext_moved_to_another_row_or_column_does_not_open(
    storage: Storage, org: Organization
) -> None:
    box = SecretBox(OLD)
    subs, signing = _services(storage, box)
    admin = Principal(organization_id=org.id, scope="admin")
    made = [
        await subs.create(
            admin,
            SubscriptionInput(url=f"http://127.0.0.1/{i}", event_types=["message.received"]),
        )
        for i in range(2)
    ]
    a, b = (m.subscription for m in made)
    a_secrets = await storage.subscription_secrets(org.id, a.id)
    assert a_secrets is not None and a_secrets.secret_enc is not None
    assert await signing.read_secret(a) == made[0].secret

    # b's row now holds a's ciphertext: it does not open (in a fresh process, or this one)
    await _set(storage, t.subscriptions, b.id, secret_enc=a_secrets.secret_enc)
    for reader in (signing, _services(storage, SecretBox(OLD))[1]):
        with pytest.raises(SecretUnreadable):
            await reader.read_secret(b)
    # nor moved to another column of its own row
    await _set(storage, t.subscriptions, a.id, auth_token_enc=a_secrets.secret_enc)
    with pytest.raises(SecretUnreadable):
        await signing.auth_token(a)

    # an identity's key copied to another identity's row does not open either
    ada, bob = make_identity(org.id, "ada"), make_identity(org.id, "bob")
    for ident in (ada, bob):
        await storage.insert_identity(ident)
        await signing.rotate_key(admin, ident.id)
    ada_key = await storage.current_signing_key(org.id, ada.id)
    bob_key = await storage.current_signing_key(org.id, bob.id)
    assert ada_key is not None and bob_key is not None
    box.open(ada_key.key_enc, key_place(ada_key.id))
    await _set(storage, t.signing_keys, bob_key.id, key_enc=ada_key.key_enc)
    with pytest.raises(SecretUnreadable):
        SecretBox(OLD).open(ada_key.key_enc, key_place(bob_key.id))


async def test_the_check_value_refuses_a_wrong_key_and_accepts_old_and_new(
    storage: Storage, org: Organization
) -> None:
    del org
    keys = master_key.MasterKeys(current=OLD, previous=())
    await master_key.verify(storage, keys.box(), keys, NOW_MS)  # first start: stored
    check = await storage.secret_check()
    assert check is not None and check.startswith("v3.")
    await master_key.verify(storage, keys.box(), keys, NOW_MS)  # every later start
    wrong = master_key.MasterKeys(current=NEW, previous=())
    with pytest.raises(master_key.WrongSecretKey, match="refusing to start") as raised:
        await master_key.verify(storage, wrong.box(), wrong, NOW_MS)
    assert "\n" not in str(raised.value)
    rotating = master_key.MasterKeys(current=NEW, previous=(OLD,))
    await master_key.verify(storage, rotating.box(), rotating, NOW_MS)


async def test_a_database_from_before_the_check_value_is_checked_by_a_stored_secret(
    storage: Storage, org: Organization
) -> None:
    sub = make_subscription(org.id)
    sealed = SecretBox(OLD).seal("whsec_x", sub_place("secret_enc", sub.id))
    await storage.insert_subscription(sub, SubscriptionSecrets(secret_enc=sealed))
    wrong = master_key.MasterKeys(current=NEW, previous=())
    with pytest.raises(master_key.WrongSecretKey):
        await master_key.verify(storage, wrong.box(), wrong, NOW_MS)
    assert await storage.secret_check() is None, "a wrong key stores no check value"
    right = master_key.MasterKeys(current=OLD, previous=())
    await master_key.verify(storage, right.box(), right, NOW_MS)
    assert await storage.secret_check() is not None


async def test_rotation_rewrites_every_secret_and_can_be_run_again(
    storage: Storage, org: Organization
) -> None:
    old_box = SecretBox(OLD)
    subs, signing = _services(storage, old_box)
    admin = Principal(organization_id=org.id, scope="admin")
    keys = master_key.MasterKeys(current=OLD, previous=())
    await master_key.verify(storage, old_box, keys, NOW_MS)
    made = await subs.create(
        admin,
        SubscriptionInput(
            url="http://127.0.0.1/r",
            event_types=["message.received"],
            auth_token="tok-1",
            headers={"X-Api-Key": "k-1"},
        ),
    )
    sub = made.subscription
    new_secret = await signing.rotate_secret(sub, 3600)  # the old one in its grace period
    ident = make_identity(org.id, "ada")
    await storage.insert_identity(ident)
    identity_key = await signing.rotate_key(admin, ident.id)
    # a secret sealed by an earlier version (v2), and one from before that (Fernet)
    legacy = make_subscription(org.id)
    await storage.insert_subscription(
        legacy,
        SubscriptionSecrets(
            secret_enc=v2_seal(OLD, "whsec_v2"), auth_token_enc=fernet_seal(OLD, "t")
        ),
    )

    rotating = SecretBox(NEW, [OLD])
    first = await master_key.rotate(storage, rotating)
    assert first.rewritten >= 8
    again = await master_key.rotate(storage, rotating)
    assert again.rewritten == 0, "run again, it finds nothing left to do"
    stored = await _every_ciphertext(storage)
    assert stored and all(rotating.is_current(c) for c in stored)

    # with the new key alone, everything opens as before
    new_box = SecretBox(NEW)
    keys_new = master_key.MasterKeys(current=NEW, previous=())
    await master_key.verify(storage, new_box, keys_new, NOW_MS)
    _, signing_new = _services(storage, new_box)
    assert await signing_new.read_secret(sub) == new_secret
    assert await signing_new.signing_secrets(sub) == [new_secret, made.secret]
    assert await signing_new.auth_token(sub) == "tok-1"
    assert await signing_new.custom_headers(sub) == {"X-Api-Key": "k-1"}
    found = await storage.current_signing_key(org.id, ident.id)
    assert found is not None and new_box.open(found.key_enc, key_place(found.id)) == identity_key
    assert await signing_new.read_secret(legacy) == "whsec_v2"
    assert await signing_new.auth_token(legacy) == "t"
    # and the old key alone no longer opens the database
    with pytest.raises(master_key.WrongSecretKey):
        await master_key.verify(storage, SecretBox(OLD), keys, NOW_MS)


async def test_header_values_stored_plain_are_sealed(storage: Storage, org: Organization) -> None:
    box = SecretBox(OLD)
    plain = make_subscription(org.id, headers={"X-Api-Key": "plain-value"})
    await storage.insert_subscription(plain, SubscriptionSecrets())
    _, signing = _services(storage, box)
    assert await signing.custom_headers(plain) == {"X-Api-Key": "plain-value"}
    assert await storage.plain_headers(10) == [(plain.id, json.dumps({"X-Api-Key": "plain-value"}))]

    keys = master_key.MasterKeys(current=OLD, previous=())
    await master_key.verify(storage, box, keys, NOW_MS)
    assert await storage.plain_headers(10) == []
    got = await storage.get_subscription(org.id, plain.id)
    assert got is not None and got.headers == {"X-Api-Key": MASK}
    assert await signing.custom_headers(got) == {"X-Api-Key": "plain-value"}


async def test_a_mailbox_webhook_follows_its_mailbox_to_a_new_owner(
    storage: Storage, org: Organization
) -> None:
    """Whose key signs a mailbox's webhook is its owner's: when the mailbox changes owner,
    its subscriptions change owner with it, and the new owner's key signs."""
    ada, bob = make_identity(org.id, "ada"), make_identity(org.id, "bob")
    for ident in (ada, bob):
        await storage.insert_identity(ident)
    box = make_mailbox(org.id, identity_id=ada.id)
    await storage.insert_mailbox(box)
    for ident in (ada, bob):
        await storage.put_signing_key(
            org.id, ident.id, f"enc:{ident.agent_handle}", NOW_MS, only_if_missing=False
        )
    hook = make_subscription(
        org.id, profile="inkbox", mailbox_id=box.id, owner_identity_id=ada.id, source="mailbox"
    )
    await storage.insert_subscription(hook, SubscriptionSecrets())

    await storage.update_mailbox(org.id, box.id, {"agent_identity_id": bob.id})
    moved = await storage.get_subscription(org.id, hook.id)
    assert moved is not None and moved.owner_identity_id == bob.id
    await publish(storage, [moved])
    [claimed] = await storage.claim_due(NOW_MS, 10, LEASE_MS)
    assert claimed.secret_ciphertexts == ("enc:bob",)
