"""Secrets at rest: encrypted with a key derived from ``HOOKLINE_SECRET_KEY``."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"hookline secrets at rest v1"


class SecretBox:
    """Encrypts short secrets (signing keys, subscription secrets, auth tokens)."""

    def __init__(self, master_key: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            master_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self._cache: dict[str, str] = {}

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, ciphertext: str) -> str:
        """Decrypt; results are cached since the same few secrets sign every delivery."""
        hit = self._cache.get(ciphertext)
        if hit is not None:
            return hit
        try:
            plain = self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise RuntimeError(
                "a stored secret cannot be decrypted: HOOKLINE_SECRET_KEY differs from the one "
                "that encrypted it"
            ) from exc
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[ciphertext] = plain
        return plain


def key_file_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".key")


def load_or_create_key_file(path: Path) -> str:
    """The embedded default: a master key kept beside the database file, owner-only."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key
