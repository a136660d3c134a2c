"""SQLite's one writer.

One thread owns the only write connection and takes write work (functions of that
connection) from a queue: all that waits goes into one transaction. Should one piece fail,
the transaction is rolled back and run again with a savepoint around each piece, so that the
failing one rolls back alone. A caller is answered only once the transaction has committed.
SQLite's C code runs without the GIL, so writing overlaps the event loop's work, and another
process's write lock (a CLI migrate or prune) is waited for here, never on the loop.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa

from hookline.storage.sqlite_wal import Checkpoints

T = TypeVar("T")

MAX_BATCH = 64  # pieces of work in one transaction at most


@dataclass(slots=True)
class _Work:
    fn: Callable[..., Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    #: run outside any transaction, on the driver's own connection (a checkpoint, a vacuum)
    alone: bool = False
    #: ``fn`` takes these besides the connection, and answers one result for each: the
    #: items of such pieces queued one after another with the same ``fn`` go in one call
    items: list[Any] | None = None


_STOP = object()
_Outcome = tuple[bool, Any]  # (succeeded, its result or its exception)


class Writer:
    """The thread that owns the write connection (``connect`` makes it, on that thread)."""

    def __init__(
        self, connect: Callable[[], sa.Connection], checkpoints: Checkpoints | None
    ) -> None:
        self._connect = connect
        self._checkpoints = checkpoints
        self._queue: queue.SimpleQueue[_Work | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        #: the loop of the latest caller, told of what fails off its thread (a checkpoint)
        self.loop: asyncio.AbstractEventLoop | None = None

    def submit(self, fn: Callable[[Any], T], *, alone: bool = False) -> asyncio.Future[T]:
        """Queue ``fn``: it runs in the next transaction with an ``sa.Connection``, or with
        ``alone`` outside any with the ``sqlite3.Connection``. Its result once committed.
        A caller that stops waiting does not stop it."""
        return self._put(fn, alone=alone)

    def submit_items(
        self, write: Callable[[sa.Connection, list[Any]], list[T]], items: list[Any]
    ) -> asyncio.Future[list[T]]:
        """Queue ``write(connection, items)``, which answers one result per item. The items of
        such calls queued one after another with an equal ``write`` go in one call (a group
        commit that needs no round trip through the event loop); should it fail, each call's
        items are written again apart."""
        return self._put(write, items=items)

    def _put(self, fn: Callable[..., Any], **how: Any) -> asyncio.Future[Any]:
        loop = self.loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hookline-sqlite", daemon=True)
            self._thread.start()
        self._queue.put(_Work(fn, future, loop, **how))
        return future

    def close(self) -> None:
        """Finish what is queued and stop (blocks)."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        if self._checkpoints is not None:
            self._checkpoints.close()

    def _run(self) -> None:
        conn: sa.Connection | None = None
        carried: _Work | object | None = None
        try:
            while True:
                work = carried if carried is not None else self._queue.get()
                carried = None
                if not isinstance(work, _Work):
                    return
                batch = [work]
                while not work.alone and len(batch) < MAX_BATCH:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if not isinstance(more, _Work) or more.alone:
                        carried = more
                        break
                    batch.append(more)
                try:
                    if conn is None or conn.invalidated or conn.closed:
                        conn = self._connect()
                    raw = conn.connection.dbapi_connection
                    assert isinstance(raw, sqlite3.Connection)
                except BaseException as exc:  # the file cannot be opened: each caller hears so
                    _settle([(w, (False, exc)) for w in batch])
                    continue
                if work.alone:
                    _settle([(work, _run_alone(work, raw))])
                    continue
                if self._checkpoints is not None:
                    self._checkpoints.before_write(raw)
                _settle(_write(conn, raw, batch))
                if self._checkpoints is not None:
                    self._checkpoints.written()
        finally:
            if conn is not None:
                conn.close()


def _run_alone(work: _Work, raw: sqlite3.Connection) -> _Outcome:
    try:
        return True, work.fn(raw)
    except BaseException as exc:
        return False, exc


def _units(batch: list[_Work]) -> list[list[_Work]]:
    """The batch's pieces, those that go in one call together."""
    units: list[list[_Work]] = []
    for work in batch:
        last = units[-1][0] if units else None
        if last is not None and None not in (work.items, last.items) and last.fn == work.fn:
            units[-1].append(work)
        else:
            units.append([work])
    return units


def _run_unit(conn: sa.Connection, unit: list[_Work]) -> list[_Outcome]:
    first = unit[0]
    if first.items is None:
        return [(True, first.fn(conn))]
    results = first.fn(conn, [item for work in unit for item in work.items or ()])
    outcomes: list[_Outcome] = []
    at = 0
    for work in unit:
        n = len(work.items or ())
        outcomes.append((True, results[at : at + n]))
        at += n
    return outcomes


def _write(
    conn: sa.Connection, raw: sqlite3.Connection, batch: list[_Work]
) -> list[tuple[_Work, _Outcome]]:
    """One transaction for ``batch``: each piece's outcome; all fail if the commit does.
    The pieces run as they are (a savepoint each is two more steps, each a wait for the GIL
    while the event loop is busy); should one fail, the transaction is rolled back and run
    again with each piece apart in a savepoint, so that only the one that fails rolls back."""
    in_piece = False
    try:
        # the write lock up front: another process's writer is waited for here (busy_timeout)
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        in_piece = True
        outcomes = [o for unit in _units(batch) for o in _run_unit(conn, unit)]
        in_piece = False
        conn.commit()
        return list(zip(batch, outcomes, strict=True))
    except BaseException as exc:
        _rollback(conn, raw)
        if len(batch) == 1 or not in_piece:  # alone, or the transaction itself failed
            return [(work, (False, exc)) for work in batch]
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        outcomes = [_in_savepoint(conn, raw, work) for work in batch]
        conn.commit()
        return list(zip(batch, outcomes, strict=True))
    except BaseException as exc:
        _rollback(conn, raw)
        return [(work, (False, exc)) for work in batch]


def _rollback(conn: sa.Connection, raw: sqlite3.Connection) -> None:
    try:
        conn.rollback()
    except Exception:
        if raw.in_transaction:
            raw.rollback()


def _in_savepoint(conn: sa.Connection, raw: sqlite3.Connection, work: _Work) -> _Outcome:
    conn.exec_driver_sql("SAVEPOINT work")
    try:
        [outcome] = _run_unit(conn, [work])
    except Exception as exc:
        if not raw.in_transaction:
            raise  # SQLite rolled all of it back (a full disk, say): the batch fails whole
        conn.exec_driver_sql("ROLLBACK TO work")
        conn.exec_driver_sql("RELEASE work")
        return False, exc
    conn.exec_driver_sql("RELEASE work")
    return outcome


def _settle(done: list[tuple[_Work, _Outcome]]) -> None:
    """Answer the callers, on their loops (one wake-up per loop)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], _Outcome]]] = {}
    for work, outcome in done:
        by_loop.setdefault(work.loop, []).append((work.future, outcome))
    for loop, answers in by_loop.items():
        try:
            loop.call_soon_threadsafe(_answer, answers)
        except RuntimeError:  # its loop has closed: no one is waiting
            continue


def _answer(answers: list[tuple[asyncio.Future[Any], _Outcome]]) -> None:
    for future, (ok, value) in answers:
        if future.done():  # its caller stopped waiting
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
