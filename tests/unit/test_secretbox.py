"""Secrets at rest: AES-GCM for what is sealed now, Fernet tokens of earlier versions still
open, and a wrong master key or a changed ciphertext is refused, never misread."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hookline.services.secretbox import SecretBox

MASTER = "a-master-key-for-these-tests-0123456789"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def legacy_seal(master: str, plaintext: str) -> str:
    """How versions before AES-GCM sealed a secret (Fernet under an HKDF-derived key)."""
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"hookline secrets at rest v1"
    ).derive(master.encode())
    return Fernet(base64.urlsafe_b64encode(derived)).encrypt(plaintext.encode()).decode()


def test_sealed_secrets_open_again() -> None:
    box = SecretBox(MASTER)
    sealed = box.seal(SECRET)
    assert sealed.startswith("v2.") and SECRET not in sealed
    assert SecretBox(MASTER).open(sealed) == SECRET  # a new process, same master key


def test_each_seal_is_different() -> None:
    box = SecretBox(MASTER)
    assert box.seal(SECRET) != box.seal(SECRET), "a fresh nonce every time"


def test_secrets_sealed_by_earlier_versions_still_open() -> None:
    assert SecretBox(MASTER).open(legacy_seal(MASTER, SECRET)) == SECRET


@pytest.mark.parametrize("legacy", [False, True])
def test_another_master_key_is_refused(legacy: bool) -> None:
    sealed = legacy_seal(MASTER, SECRET) if legacy else SecretBox(MASTER).seal(SECRET)
    with pytest.raises(RuntimeError, match="HOOKLINE_SECRET_KEY"):
        SecretBox(MASTER + "-other").open(sealed)


def test_a_changed_ciphertext_is_refused() -> None:
    sealed = SecretBox(MASTER).seal(SECRET)
    raw = bytearray(base64.urlsafe_b64decode(sealed[3:]))
    raw[-1] ^= 1
    with pytest.raises(RuntimeError, match="cannot be decrypted"):
        SecretBox(MASTER).open("v2." + base64.urlsafe_b64encode(bytes(raw)).decode())
    with pytest.raises(RuntimeError, match="cannot be decrypted"):
        SecretBox(MASTER).open("v2.not base64!")


def test_what_a_box_sealed_it_opens_without_decrypting() -> None:
    """A fan-out to 10,000 subscriptions made by this process opens 10,000 secrets: those it
    sealed itself come from memory, not from AES-GCM."""
    box = SecretBox(MASTER)
    sealed = box.seal(SECRET)
    box._gcm = None  # type: ignore[assignment]  # any decryption now fails
    assert box.open(sealed) == SECRET
    with pytest.raises(AttributeError):
        box.open(SecretBox(MASTER).seal(SECRET))  # sealed elsewhere: decrypted
