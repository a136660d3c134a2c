"""OutcomeWriter on its own: through a database outage, each batch is retried until its
earliest lease is nearly out, then kept (bounded) and written once the database is back.

Time is a clock of the test's own, which its sleep moves on; the database is a plain write
function that fails while the test says it is down (the writer needs nothing else of the
storage, whose writes the contract suite covers)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from hookline.core.errors import StorageUnavailable
from hookline.core.models import Attempt
from hookline.delivery.outcomes import (
    MAX_LATE,
    RETRY_WAIT_MAX_S,
    WRITE_MARGIN_MS,
    OutcomeWriter,
)
from hookline.storage.records import OutcomeRecord, Recorded

START_MS = 1_800_000_000_000


class Clock:
    """The time the writer sees; its sleep moves it on (and lets the loop run)."""

    def __init__(self) -> None:
        self.now = START_MS

    def now_ms(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += round(seconds * 1000)
        await asyncio.sleep(0)


class Database:
    """Writes batches while up; raises StorageUnavailable while down. Notes when each try
    came, on the writer's clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.down = False
        #: tries that fail before it is up (while not ``down``)
        self.failing_tries = 0
        self.tries_at: list[int] = []
        self.written: list[list[str]] = []
        #: called once, by the next try that fails, as it fails
        self.on_failure: Callable[[], None] | None = None

    async def write(self, batch: list[OutcomeRecord]) -> Recorded:
        self.tries_at.append(self.clock.now)
        await asyncio.sleep(0)
        if self.down or self.failing_tries > 0:
            self.failing_tries -= 1
            call, self.on_failure = self.on_failure, None
            if call is not None:
                call()
            raise StorageUnavailable("connection refused")
        self.written.append([r.delivery_id for r in batch])
        return Recorded(changed=len(batch))

    @property
    def ids(self) -> list[str]:
        return [i for batch in self.written for i in batch]


def record(n: int) -> OutcomeRecord:
    attempt = Attempt(
        id=f"att_{n}",
        organization_id="org_1",
        delivery_id=f"del_{n}",
        subscription_id="sub_1",
        phone_number_id=None,
        event_id=f"evt_{n}",
        event_type="message.sent",
        url="https://example.com/hook",
        request_payload="{}",
        response_status=200,
        response_body="ok",
        error_detail=None,
        duration_ms=5,
        is_replay=False,
        created_at_ms=START_MS,
    )
    return OutcomeRecord(
        delivery_id=f"del_{n}",
        lease_token="lease_1",
        attempt=attempt,
        state="succeeded",
        next_attempt_at_ms=None,
        first_attempt_at_ms=START_MS,
    )


class Run:
    def __init__(self) -> None:
        self.clock = Clock()
        self.db = Database(self.clock)
        self.recorded: list[Recorded] = []
        self.stop = asyncio.Event()
        self.writer = OutcomeWriter(
            self.db.write, self.clock, on_recorded=self._on_recorded, sleep=self.clock.sleep
        )

    async def _on_recorded(self, recorded: Recorded) -> None:
        self.recorded.append(recorded)

    def add(self, numbers: range, lease_left_ms: int) -> None:
        for n in numbers:
            self.writer.add(record(n), self.clock.now + lease_left_ms)
        self.writer.flush()


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[Run]:
    run = Run()
    task = asyncio.create_task(run.writer.run(run.stop, busy=lambda: False))
    try:
        yield run
    finally:
        run.stop.set()
        run.writer.stopping = True
        run.writer.flush()
        await asyncio.wait_for(task, 5)


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.001)


async def test_a_batch_is_written_as_soon_as_the_database_takes_it() -> None:
    async with running() as run:
        run.add(range(3), lease_left_ms=30_000)
        await until(lambda: len(run.db.written) == 1)
        assert run.db.ids == ["del_0", "del_1", "del_2"]
        assert [r.changed for r in run.recorded] == [3]
        assert run.writer.late == 0


async def test_a_failing_batch_is_retried_until_its_earliest_lease_is_nearly_out() -> None:
    async with running() as run:
        run.db.down = True
        run.writer.add(record(0), START_MS + 30_000)
        run.writer.add(record(1), START_MS + 5_000)  # the earliest lease decides
        run.writer.flush()
        await until(lambda: run.writer.late == 2)
        last_try_ms = START_MS + 5_000 - WRITE_MARGIN_MS
        tries = run.db.tries_at
        # the first try at once; waits that grow to RETRY_WAIT_MAX_S at most; the last try
        # when the margin before the earliest lease's end begins, and none after it
        assert tries[0] == START_MS
        assert max(tries) == last_try_ms
        retries = tries[: tries.index(last_try_ms) + 1]
        waits = [b - a for a, b in itertools.pairwise(retries)]
        assert waits[:-1] == sorted(waits[:-1])
        assert max(waits) <= RETRY_WAIT_MAX_S * 1000
        assert len(retries) >= 5
        assert run.db.written == []
        assert run.recorded == []


async def test_a_batch_is_written_when_the_database_returns_within_its_lease() -> None:
    async with running() as run:
        run.db.failing_tries = 4
        run.add(range(2), lease_left_ms=30_000)
        await until(lambda: len(run.db.written) == 1)
        assert len(run.db.tries_at) == 5
        assert run.db.ids == ["del_0", "del_1"]
        assert run.writer.late == 0
        assert len(run.recorded) == 1
        assert run.clock.now < START_MS + 30_000 - WRITE_MARGIN_MS


async def test_outcomes_kept_past_their_lease_are_written_once_the_database_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "hookline.worker")
    async with running() as run:
        run.db.down = True
        run.add(range(3), lease_left_ms=3_000)
        await until(lambda: run.writer.late == 3)
        assert "3 outcomes were not written within their leases" in caplog.text
        tries = len(run.db.tries_at)
        # the kept ones are tried again with the next batch (and every LATE_RETRY_S)
        run.add(range(3, 4), lease_left_ms=3_000)
        await until(lambda: len(run.db.tries_at) > tries + 1)
        assert run.writer.late >= 3
        run.db.down = False
        run.writer.flush()
        await until(lambda: run.writer.late == 0)
        assert sorted(run.db.ids) == ["del_0", "del_1", "del_2", "del_3"]
        assert "written to the log after their leases ran out" in caplog.text


async def test_outcomes_kept_are_bounded_the_oldest_dropped_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    over = 7
    async with running() as run:
        run.db.down = True
        # leases already out: each batch has one try, then is kept
        run.add(range(MAX_LATE + over), lease_left_ms=0)
        # a try is counted as it starts: the last batch is kept once its log line is out
        await until(lambda: f"{over} attempts were dropped unlogged" in caplog.text)
        assert run.writer.late == MAX_LATE
        run.db.down = False
        run.writer.flush()
        await until(lambda: run.writer.late == 0, timeout_s=30)
        # the oldest went, the rest are written in the order they came
        assert run.db.ids == [f"del_{n}" for n in range(over, MAX_LATE + over)]


async def test_a_stopping_worker_gives_what_it_kept_one_last_try() -> None:
    run = Run()
    task = asyncio.create_task(run.writer.run(run.stop, busy=lambda: False))
    run.db.down = True
    run.add(range(2), lease_left_ms=2_000)
    await until(lambda: run.writer.late == 2)
    run.db.down = False
    run.stop.set()
    run.writer.stopping = True
    run.writer.flush()
    await asyncio.wait_for(task, 5)
    assert run.db.ids == ["del_0", "del_1"]
    assert run.writer.late == 0


async def test_a_worker_that_begins_stopping_during_a_try_gives_the_kept_one_more() -> None:
    """The worker may begin stopping (and the database come back) while a try at the kept
    outcomes is failing: they still get their last try, after it."""
    run = Run()
    task = asyncio.create_task(run.writer.run(run.stop, busy=lambda: False))
    run.db.down = True
    run.add(range(2), lease_left_ms=2_000)
    await until(lambda: run.writer.late == 2)

    def begin_stopping() -> None:
        run.db.down = False
        run.stop.set()
        run.writer.stopping = True
        run.writer.flush()

    run.db.on_failure = begin_stopping
    run.writer.flush()
    await asyncio.wait_for(task, 5)
    assert run.db.on_failure is None, "no try failed after the hook was set"
    assert run.db.ids == ["del_0", "del_1"]
    assert run.writer.late == 0


async def test_a_stopping_worker_does_not_wait_out_leases_and_says_what_it_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = Run()
    run.db.down = True
    run.writer.stopping = True
    run.stop.set()
    task = asyncio.create_task(run.writer.run(run.stop, busy=lambda: False))
    run.add(range(2), lease_left_ms=30_000)
    await asyncio.wait_for(task, 5)
    # one try as it came, one last try before returning: no retries through the lease
    assert run.db.tries_at == [START_MS, START_MS]
    assert "2 attempts could not be written to the log before stopping" in caplog.text
