"""The CLI's own config file: which server the client commands speak to, with which key.

It lives where the platform keeps a user's configuration (``$XDG_CONFIG_HOME/hookline/`` or
``~/.config/hookline/``), readable by its owner only, because it holds an API key.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SERVER = "http://127.0.0.1:8000"
FILE_MODE = 0o600
DIR_MODE = 0o700


@dataclass(frozen=True, kw_only=True)
class Stored:
    """What ``hookline login`` saved; either may be missing."""

    server: str | None = None
    api_key: str | None = None


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hookline" / "config.toml"


def read() -> Stored:
    """The saved server and key; nothing when there is no file. ``ValueError`` says what is
    wrong with a file that cannot be read."""
    path = config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Stored()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    server, key = data.get("server"), data.get("api_key")
    return Stored(
        server=server if isinstance(server, str) and server else None,
        api_key=key if isinstance(key, str) and key else None,
    )


def write(stored: Stored) -> Path:
    """Save ``stored``, replacing the file; it is created private to its owner, never
    readable by others even for a moment."""
    path = config_path()
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    # mkdir's mode is masked by the umask and ignored for a directory that exists
    path.parent.chmod(DIR_MODE)
    lines = ["# written by `hookline login`"]
    if stored.server:
        lines.append(f"server = {_toml_string(stored.server)}")
    if stored.api_key:
        lines.append(f"api_key = {_toml_string(stored.api_key)}")
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    # the mode of open() applies only to a new file: a leftover one is made private first
    os.fchmod(fd, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    tmp.replace(path)
    return path


def forget() -> Path | None:
    """Remove the saved file; its path, or None when there was none."""
    path = config_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return path


def _toml_string(value: str) -> str:
    # a JSON string is a valid TOML basic string: the same quotes and escapes
    return json.dumps(value)
