"""Reading what people type: JSON objects, ``Name: value`` headers, lists, times, JSON lines.

Each parser raises ``ValueError`` with a message that names the problem; the commands turn it
into a usage error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def headers(lines: list[str]) -> dict[str, str]:
    """``Name: value`` lines as a dict, names kept as written (they are sent so)."""
    out: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"header {line!r} is not 'Name: value'")
        out[name.strip()] = value.strip()
    return out


def names(values: list[str]) -> list[str]:
    """Repeated and comma-separated values as one list, in order, without blanks or repeats."""
    seen: dict[str, None] = {}
    for value in values:
        for part in value.split(","):
            if part.strip():
                seen[part.strip()] = None
    return list(seen)


def seconds_list(text: str) -> list[int]:
    """``0,30,120``: a retry schedule."""
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ValueError(f"{text!r} is not a comma-separated list of seconds") from None


def since(text: str, now: datetime) -> str:
    """An ISO 8601 time, or a duration back from ``now`` (``90m``, ``24h``, ``7d``)."""
    found = _DURATION.match(text.strip())
    if found:
        back = timedelta(seconds=int(found.group(1)) * _UNIT_S[found.group(2)])
        return (now - back).isoformat()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO 8601 time nor a duration such as 24h or 7d"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()


def json_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The events of a JSON-lines file, one object per line (blank lines skipped). A bad line
    is named by its number."""
    try:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                event = json_object(line, f"{path.name} line {number}")
                if not isinstance(event.get("type"), str):
                    raise ValueError(f"{path.name} line {number}: the event has no 'type'")
                yield event
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
