"""SQLite's WAL checkpoints: a small job of its own, beside the writer (sqlite_writer.py).

Checkpoints (copying the WAL into the database file) run on a thread and a connection of
their own, so that no commit pays for one. SQLite starts the WAL over only when a write finds
all of it copied, which under a steady load never happens by itself: so once the WAL is long
and nearly all copied, the writer copies the rest between two transactions, and the next
write starts the WAL over, cut back to ``journal_size_limit``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

CHECKPOINT_INTERVAL_S = 0.5  # the WAL is checkpointed at most this often
WAL_RESTART_FRAMES = 1_000  # past this many pages (4 kB each), the WAL is made to start over


def _passive_checkpoint(conn: sqlite3.Connection) -> tuple[int, int]:
    """The frames in the WAL, and how many of them are now in the database file. PASSIVE:
    it never waits for a reader or the writer, and copies what they leave it."""
    [(_busy, in_log, copied)] = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return int(in_log), int(copied)


class Checkpoints:
    """The checkpoint job: after writes, at most every ``CHECKPOINT_INTERVAL_S``."""

    def __init__(self, path: str, busy_timeout_ms: int, failed: Callable[[Exception], None]):
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._failed = failed
        self._written = threading.Event()
        self._stopping = threading.Event()
        self._restart = False  # the writer copies the WAL's rest before its next transaction
        self._thread: threading.Thread | None = None

    def written(self) -> None:
        """The writer committed (on its thread)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hookline-wal", daemon=True)
            self._thread.start()
        if not self._written.is_set():
            self._written.set()

    def before_write(self, conn: sqlite3.Connection) -> None:
        """Between two of the writer's transactions (on its thread): no one else writes, so
        what it copies now is the WAL's last frames, and the next write starts it over."""
        if self._restart:
            self._restart = False
            try:
                _passive_checkpoint(conn)
            except Exception as exc:
                self._failed(exc)

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            while not self._stopping.is_set():
                self._written.wait()
                self._written.clear()
                if self._stopping.is_set():
                    break
                try:
                    in_log, copied = _passive_checkpoint(conn)
                except Exception as exc:
                    self._failed(exc)
                else:
                    # a reader on an older snapshot may hold much of it back: then what is
                    # left would not be small, and the next turn tries again
                    self._restart = (
                        in_log >= WAL_RESTART_FRAMES and in_log - copied <= WAL_RESTART_FRAMES
                    )
                self._stopping.wait(CHECKPOINT_INTERVAL_S)
        finally:
            conn.close()

    def close(self) -> None:
        self._stopping.set()
        self._written.set()
        if self._thread is not None:
            self._thread.join()
