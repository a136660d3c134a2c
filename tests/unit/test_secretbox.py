"""Secrets at rest: AES-GCM with a key id and bound to the place the secret is stored; the
formats of earlier versions (v2 AES-GCM, Fernet) still open; old keys open during a
rotation; a wrong master key, a changed ciphertext or one moved elsewhere is refused."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hookline.services.secretbox import (
    SecretBox,
    SecretUnreadable,
    key_id,
    load_or_create_key_file,
    place,
    read_key_file,
    write_key_file,
)

MASTER = "a-master-key-for-these-tests-0123456789"
NEW = "the-next-master-key-0123456789abcdef"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HERE = place("subscriptions", "secret_enc", "0b7e5a9c-1111-4222-8333-944445555666")


def _derived(master: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master.encode())


def fernet_seal(master: str, plaintext: str) -> str:
    """How the first versions sealed a secret (Fernet under an HKDF-derived key)."""
    key = base64.urlsafe_b64encode(_derived(master, b"hookline secrets at rest v1"))
    return Fernet(key).encrypt(plaintext.encode()).decode()


def v2_seal(master: str, plaintext: str) -> str:
    """How the versions before key ids sealed one: ``v2.`` AES-GCM, bound to no place."""
    gcm = AESGCM(_derived(master, b"hookline secrets at rest v2 aes-256-gcm"))
    nonce = os.urandom(12)
    sealed = gcm.encrypt(nonce, plaintext.encode(), b"hookline secret")
    return "v2." + base64.urlsafe_b64encode(nonce + sealed).decode()


def test_sealed_secrets_open_again() -> None:
    box = SecretBox(MASTER)
    sealed = box.seal(SECRET, HERE)
    assert sealed.startswith(f"v3.{key_id(MASTER)}.") and SECRET not in sealed
    assert SecretBox(MASTER).open(sealed, HERE) == SECRET  # a new process, same master key
    assert box.is_current(sealed)


def test_each_seal_is_different() -> None:
    box = SecretBox(MASTER)
    assert box.seal(SECRET, HERE) != box.seal(SECRET, HERE), "a fresh nonce every time"


def test_the_key_id_is_a_fingerprint_not_the_key() -> None:
    assert key_id(MASTER) != key_id(NEW)
    assert key_id(MASTER) == key_id(MASTER)
    assert key_id(MASTER) not in MASTER


@pytest.mark.parametrize("seal", [fernet_seal, v2_seal])
def test_secrets_sealed_by_earlier_versions_still_open(seal: object) -> None:
    assert callable(seal)
    old = seal(MASTER, SECRET)
    box = SecretBox(MASTER)
    assert box.open(old, HERE) == SECRET
    assert not box.is_current(old), "a rotation rewrites it"
    # and with the old key given as a previous one, during a rotation
    assert SecretBox(NEW, [MASTER]).open(seal(MASTER, SECRET), HERE) == SECRET


@pytest.mark.parametrize("seal", [fernet_seal, v2_seal, None])
def test_another_master_key_is_refused(seal: object) -> None:
    sealed = SecretBox(MASTER).seal(SECRET, HERE) if seal is None else seal(MASTER, SECRET)  # type: ignore[operator]
    with pytest.raises(SecretUnreadable, match="HOOKLINE_SECRET_KEY"):
        SecretBox(MASTER + "-other").open(sealed, HERE)


def test_a_previous_key_opens_but_never_seals() -> None:
    old = SecretBox(MASTER).seal(SECRET, HERE)
    rotating = SecretBox(NEW, [MASTER])
    assert rotating.open(old, HERE) == SECRET
    assert not rotating.is_current(old)
    fresh = rotating.seal(SECRET, HERE)
    assert fresh.startswith(f"v3.{key_id(NEW)}.") and rotating.is_current(fresh)
    with pytest.raises(SecretUnreadable):
        SecretBox(MASTER).open(fresh, HERE)  # a process with the old key only
    assert SecretBox(NEW).open(fresh, HERE) == SECRET  # the rotation done


@pytest.mark.parametrize(
    "elsewhere",
    [
        place("subscriptions", "secret_enc", "another-row"),
        place("subscriptions", "previous_secret_enc", "0b7e5a9c-1111-4222-8333-944445555666"),
        place("signing_keys", "key_enc", "0b7e5a9c-1111-4222-8333-944445555666"),
    ],
)
def test_a_ciphertext_moved_to_another_place_does_not_open(elsewhere: str) -> None:
    box = SecretBox(MASTER)
    sealed = box.seal(SECRET, HERE)
    with pytest.raises(SecretUnreadable):
        box.open(sealed, elsewhere)  # not even from the cache of what this box sealed
    with pytest.raises(SecretUnreadable):
        SecretBox(MASTER).open(sealed, elsewhere)


def test_a_changed_ciphertext_is_refused() -> None:
    sealed = SecretBox(MASTER).seal(SECRET, HERE)
    head, body = sealed.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 1
    for broken in (
        head + "." + base64.urlsafe_b64encode(bytes(raw)).decode(),
        head + ".not base64!",
        "v3.unknownk." + body,
        "v2.not base64!",
    ):
        with pytest.raises(SecretUnreadable, match="cannot be decrypted"):
            SecretBox(MASTER).open(broken, HERE)


def test_what_a_box_sealed_it_opens_without_decrypting() -> None:
    """A fan-out to 10,000 subscriptions made by this process opens 10,000 secrets: those it
    sealed itself come from memory, not from AES-GCM."""
    box = SecretBox(MASTER)
    sealed = box.seal(SECRET, HERE)
    box._current.v3 = None  # type: ignore[assignment]  # any decryption now fails
    assert box.open(sealed, HERE) == SECRET
    with pytest.raises(AttributeError):
        box.open(SecretBox(MASTER).seal(SECRET, HERE), HERE)  # sealed elsewhere: decrypted


def test_key_files_hold_the_current_key_first(tmp_path: Path) -> None:
    path = tmp_path / "hookline.db.key"
    keys, created = load_or_create_key_file(path)
    assert created and len(keys) == 1 and (path.stat().st_mode & 0o777) == 0o600
    assert load_or_create_key_file(path) == (keys, False)
    write_key_file(path, [NEW, keys[0]])
    assert read_key_file(path) == [NEW, keys[0]]
    assert (path.stat().st_mode & 0o777) == 0o600
    assert not path.with_name(path.name + ".tmp").exists()
