"""How the server's processes log: ``text`` lines or ``json`` objects (HOOKLINE_LOG_FORMAT).

In ``json`` every line is one object: ``time``, ``level``, ``logger``, ``message``, and the
fields a line is about where it has them (``event_id``, ``delivery_id``,
``subscription_id``, ...), passed as logging's ``extra``. The drivers' own loggers stay at
``warning`` whatever the level: at ``debug`` they would write statements' parameters
(ciphertexts, plain header values of earlier versions). The access log, on at ``debug``
only, drops query strings: a console set-up link carries its token there.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

#: record attributes a ``json`` line carries when a log call gave them (``extra``)
FIELDS = (
    "event_id",
    "delivery_id",
    "subscription_id",
    "attempt",
    "status",
    "error",
    "next_attempt_at",
    "reason",
    "delivered",
    "failed",
    "retrying",
    "backlog",
)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
QUIET = ("sqlalchemy", "aiosqlite", "asyncpg", "alembic")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = record.__dict__
        for name in FIELDS:
            value = fields.get(name)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def _iso(created: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{whole}.{int(created % 1 * 1000):03d}Z"


class NoQueryString(logging.Filter):
    """uvicorn's access lines without the query string (``args[2]`` is the path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2].split("?", 1)[0]
            record.args = (*args[:2], path, *args[3:])
        return True


def configure(level: str, fmt: str) -> None:
    """The root logger's one handler, at ``level`` (``debug``…``error``), in ``fmt``."""
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, NoQueryString) for f in access.filters):
        access.addFilter(NoQueryString())
