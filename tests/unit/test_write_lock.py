"""The SQLite write lock: exclusive, API writes first, the worker never starved."""

from __future__ import annotations

import asyncio

import pytest

from hookline.storage.write_lock import MAX_FOREGROUND_IN_A_ROW, WriteLock


async def _queue(lock: WriteLock, order: list[str], name: str, *, background: bool) -> None:
    async with lock.hold(background=background):
        order.append(name)
        await asyncio.sleep(0)


async def test_waiting_api_writes_go_before_waiting_worker_writes() -> None:
    lock, order = WriteLock(), list[str]()
    await lock.acquire()
    tasks = [
        asyncio.create_task(_queue(lock, order, "w1", background=True)),
        asyncio.create_task(_queue(lock, order, "a1", background=False)),
        asyncio.create_task(_queue(lock, order, "w2", background=True)),
        asyncio.create_task(_queue(lock, order, "a2", background=False)),
    ]
    await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["a1", "a2", "w1", "w2"]
    assert not lock.locked


async def test_a_flood_of_api_writes_lets_the_worker_in_now_and_then() -> None:
    lock, order = WriteLock(), list[str]()
    await lock.acquire()
    tasks = [asyncio.create_task(_queue(lock, order, "w", background=True))]
    tasks += [
        asyncio.create_task(_queue(lock, order, f"a{i}", background=False)) for i in range(10)
    ]
    await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(*tasks)
    assert order.index("w") == MAX_FOREGROUND_IN_A_ROW


async def test_it_is_exclusive() -> None:
    lock, inside, most = WriteLock(), 0, 0

    async def use(background: bool) -> None:
        nonlocal inside, most
        async with lock.hold(background=background):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.001)
            inside -= 1

    await asyncio.gather(*(use(i % 3 == 0) for i in range(30)))
    assert most == 1 and not lock.locked


async def test_a_cancelled_waiter_neither_holds_nor_loses_the_lock() -> None:
    lock, order = WriteLock(), list[str]()
    await lock.acquire()
    cancelled = asyncio.create_task(_queue(lock, order, "gone", background=False))
    after = asyncio.create_task(_queue(lock, order, "next", background=True))
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    lock.release()
    await after
    assert order == ["next"] and not lock.locked


async def test_a_waiter_cancelled_as_it_is_handed_the_lock_passes_it_on() -> None:
    lock, order = WriteLock(), list[str]()
    await lock.acquire()
    first = asyncio.create_task(_queue(lock, order, "first", background=False))
    second = asyncio.create_task(_queue(lock, order, "second", background=False))
    await asyncio.sleep(0)
    lock.release()  # hands it to "first", which has not run yet
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    assert order == ["second"] and not lock.locked


async def test_waited_for_says_whether_anyone_waits() -> None:
    lock = WriteLock()
    await lock.acquire()
    assert not lock.waited_for
    waiter = asyncio.create_task(lock.acquire(background=True))
    await asyncio.sleep(0)
    assert lock.waited_for
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert not lock.waited_for  # a cancelled waiter waits no more
    lock.release()
    assert not lock.locked


async def test_a_waiter_cancelled_as_the_lock_is_let_go_is_cancelled_and_the_lock_free() -> None:
    lock = WriteLock()
    await lock.acquire()
    waiter = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    waiter.cancel()  # its future is cancelled; the task resumes on the next turn of the loop
    lock.release()  # in between: the cancelled future is dropped from the queue
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not lock.locked
    assert not lock.waited_for
