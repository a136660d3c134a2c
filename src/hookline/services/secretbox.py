"""Secrets at rest: encrypted with keys derived from the master key (``HOOKLINE_SECRET_KEY``).

Sealed with AES-256-GCM (a random 96-bit nonce per secret) as ``v3.<key id>.<base64url>``.
The key id names the master key that sealed it, so a box holding several keys (during a
rotation) opens each ciphertext with the right one. The associated data names the key id and
the secret's place: table, column and row id. A ciphertext copied to another row or column
therefore does not open, so someone who can write the database but not read the master key
cannot make one subscription sign with another's secret.

Earlier versions sealed ``v2.<base64url>`` (AES-GCM, no key id, not bound to a place) and,
before that, Fernet tokens. Both still open, with any key the box holds; ``hookline
rotate-secret-key`` rewrites them as ``v3``.

Why not Fernet for new secrets: an event sent to many subscriptions decrypts a different
subscription's secret for every delivery, and AES-GCM opens one several times faster
(docs/perf/2026-12-03-fan-out-claims-and-secrets.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_FERNET_INFO = b"hookline secrets at rest v1"
_V2_INFO = b"hookline secrets at rest v2 aes-256-gcm"
_V3_INFO = b"hookline secrets at rest v3 aes-256-gcm"
_KEY_ID_INFO = b"hookline master key id"
_V2_PREFIX = "v2."
_V3_PREFIX = "v3."
_NONCE_BYTES = 12
#: what v2 bound to every secret: a ciphertext is only ever a Hookline secret
_V2_ASSOCIATED = b"hookline secret"
_CACHE_MAX = 100_000
#: characters of the key id: enough to tell a deployment's few keys apart; it is a public
#: fingerprint (an HMAC of the key), never the key
_KEY_ID_CHARS = 8


class SecretUnreadable(RuntimeError):
    """A stored secret does not open with any master key this process holds."""


def place(table: str, column: str, row_id: str) -> str:
    """Where a secret is stored; sealed into its ciphertext as associated data."""
    return f"{table}.{column}/{row_id}"


def key_id(master_key: str) -> str:
    """The public fingerprint of a master key, written into every v3 ciphertext."""
    mac = hmac.new(master_key.encode(), _KEY_ID_INFO, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode()[:_KEY_ID_CHARS]


def _derive(master_key: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
        master_key.encode()
    )


class _Key:
    """One master key's ciphers: v3 (current format) and the legacy v2 and Fernet."""

    __slots__ = ("fernet", "kid", "v2", "v3")

    def __init__(self, master_key: str) -> None:
        self.kid = key_id(master_key)
        self.v3 = AESGCM(_derive(master_key, _V3_INFO))
        self.v2 = AESGCM(_derive(master_key, _V2_INFO))
        self.fernet = Fernet(base64.urlsafe_b64encode(_derive(master_key, _FERNET_INFO)))


class SecretBox:
    """Encrypts short secrets (signing keys, subscription secrets, auth tokens, headers).

    Seals with ``master_key``; opens with it and with ``previous_keys`` (a rotation's old
    keys, accepted for opening only).
    """

    def __init__(self, master_key: str, previous_keys: Sequence[str] = ()) -> None:
        self._current = _Key(master_key)
        self._keys = {self._current.kid: self._current}
        for old in previous_keys:
            k = _Key(old)
            self._keys.setdefault(k.kid, k)
        self._cache: dict[tuple[str, str], str] = {}

    @property
    def key_id(self) -> str:
        """The id of the key that seals."""
        return self._current.kid

    def seal(self, plaintext: str, where: str) -> str:
        """Encrypt for the place ``where`` (see :func:`place`). What this process seals it
        opens from memory: an event sent to many subscriptions made here need not decrypt
        each one's secret."""
        kid = self._current.kid
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._current.v3.encrypt(nonce, plaintext.encode(), _associated(kid, where))
        ciphertext = f"{_V3_PREFIX}{kid}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"
        self._remember(ciphertext, where, plaintext)
        return ciphertext

    def open(self, ciphertext: str, where: str) -> str:
        """Decrypt what was sealed for ``where``; results are cached since the same few
        secrets sign most deliveries."""
        hit = self._cache.get((ciphertext, where))
        if hit is not None:
            return hit
        try:
            plain = self._open(ciphertext, where)
        except (InvalidTag, InvalidToken, binascii.Error, ValueError, KeyError) as exc:
            raise SecretUnreadable(
                f"a stored secret ({where.split('/', 1)[0]}) cannot be decrypted: "
                "HOOKLINE_SECRET_KEY differs from the key that encrypted it"
            ) from exc
        self._remember(ciphertext, where, plain)
        return plain

    def is_current(self, ciphertext: str) -> bool:
        """Whether ``ciphertext`` is sealed in the current format with the current key (a
        rotation leaves those alone)."""
        return ciphertext.startswith(f"{_V3_PREFIX}{self._current.kid}.")

    def _open(self, ciphertext: str, where: str) -> str:
        if ciphertext.startswith(_V3_PREFIX):
            kid, _, body = ciphertext[len(_V3_PREFIX) :].partition(".")
            raw = base64.urlsafe_b64decode(body)
            gcm = self._keys[kid].v3
            return gcm.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated(kid, where)
            ).decode()
        # legacy formats carry no key id: try each key, the current one first
        last: Exception = ValueError("no key")
        for key in self._keys.values():
            try:
                if ciphertext.startswith(_V2_PREFIX):
                    raw = base64.urlsafe_b64decode(ciphertext[len(_V2_PREFIX) :])
                    return key.v2.decrypt(
                        raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _V2_ASSOCIATED
                    ).decode()
                return key.fernet.decrypt(ciphertext.encode()).decode()
            except (InvalidTag, InvalidToken) as exc:
                last = exc
        raise last

    def _remember(self, ciphertext: str, where: str, plaintext: str) -> None:
        if len(self._cache) > _CACHE_MAX:
            self._cache.clear()
        self._cache[(ciphertext, where)] = plaintext


def _associated(kid: str, where: str) -> bytes:
    return f"hookline v3|{kid}|{where}".encode()


# -- the embedded default's key file ----------------------------------------------------------
#
# One key per line: the first seals and opens, the others (a rotation under way) only open.


def key_file_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".key")


def read_key_file(path: Path) -> list[str] | None:
    """The keys of a key file, current first; None when there is no file."""
    if not path.exists():
        return None
    keys = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not keys:
        raise ValueError(f"the key file {path} is empty")
    return keys


def write_key_file(path: Path, keys: Sequence[str]) -> None:
    """Replace the key file at once (write beside it, flush, rename), owner-only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(k + "\n" for k in keys))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def new_master_key() -> str:
    return secrets.token_urlsafe(32)


def load_or_create_key_file(path: Path) -> tuple[list[str], bool]:
    """The embedded default: master keys kept beside the database file, owner-only. Returns
    the keys (current first) and whether the file was created just now."""
    found = read_key_file(path)
    if found is not None:
        return found, False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_master_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return [key], True
