"""Running attempts: one leased delivery rendered, signed and sent through a ``Transport``.

An attempt is written at once to an idle keep-alive connection when the transport has one,
its answer then taken by a callback (no task: under load nearly every attempt goes this way,
and a task with its coroutines cost more than the exchange's own Python); otherwise, or when
it cannot be sent at all, it runs as a task. Either way its result goes to ``record``
(outcomes.py) and its end to ``ended`` (scheduling.py), which frees its slot.

An attempt whose subscription was revoked before its request went out is not sent; one of a
worker that stood still or stopped hearing revocations since it began is given back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from hookline.core import attempt_headers
from hookline.core.models import ClaimedDelivery
from hookline.core.outcome import SendResult
from hookline.delivery.lanes import Held, Lane
from hookline.delivery.pools import Kind
from hookline.delivery.revocations import Revocations
from hookline.services import outbound
from hookline.services.clock import Clock
from hookline.services.secretbox import SecretBox

log = logging.getLogger("hookline.worker")


class Transport(Protocol):
    """How attempts reach their endpoints: ``delivery/sender.py``'s ``Sender`` over HTTP, or a
    test's own. Network trouble is a result (``SendResult.error``), never an exception."""

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout_s: float | None = None,
        started: float | None = None,
    ) -> SendResult:
        """One attempt; ``started`` (``time.monotonic()``): when it began, if before this
        call: the time since counts against its timeout."""

    def post_at_once(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> asyncio.Future[Any] | None:
        """The attempt written at once, without a task, or None when it cannot be: then
        ``post``."""

    def result(self, answer: asyncio.Future[Any], started: float) -> SendResult | None:
        """What a done ``post_at_once`` came to; None when nothing was sent (a connection
        found stale), and ``post`` is to send it."""


class Attempt:
    """One attempt under way: its lane, its delivery, when it began (the clock's time, and
    ``time.monotonic()`` for its deadline), and what is sent once prepared."""

    __slots__ = (
        "body",
        "claimed",
        "headers",
        "kind",
        "lane",
        "lease_until_ms",
        "sent",
        "since",
        "started",
        "started_ms",
    )

    def __init__(self, lane: Lane, held: Held, started_ms: int, started: float, since: int) -> None:
        self.lane = lane
        #: the pool whose slot it holds: its lane's kind when it started
        self.kind: Kind = lane.kind
        self.claimed = held.claimed
        self.lease_until_ms = held.lease_until_ms
        #: the revocations counted when it began (see revocations.py)
        self.since = since
        self.started_ms = started_ms
        self.started = started
        self.body = b""
        #: None until prepared
        self.headers: dict[str, str] | None = None
        #: the headers as logged, secrets masked (see ``core.attempt_headers``)
        self.sent: str | None = None


class Attempts:
    """Starts attempts and sees them to their end. ``record`` takes each result,
    ``ended(lane, kind, started_ms)`` each end, ``task_done`` each attempt task's end after
    that, and ``give_back`` the deliveries of attempts that must not go."""

    def __init__(
        self,
        *,
        transport: Transport,
        box: SecretBox,
        clock: Clock,
        revocations: Revocations,
        record: Callable[[Attempt, SendResult], None],
        ended: Callable[[Lane, Kind, int], None],
        task_done: Callable[[], None],
        give_back: Callable[[Sequence[ClaimedDelivery], int], None],
        tasks: set[asyncio.Future[Any]],
    ) -> None:
        self._transport = transport
        self._box = box
        self._clock = clock
        self._revocations = revocations
        self._record = record
        self._ended = ended
        self._task_done = task_done
        self._give_back = give_back
        #: attempts under way: tasks, and answers of attempts written at once
        self.tasks = tasks
        #: set by a stopping worker: an attempt whose connection was stale is not sent again
        self.stopping = False
        #: the last body rendered, by (organization, event id, profile): a fan-out's deliveries
        #: are one event to many subscriptions, and its body is the same bytes for each
        self._body_key: tuple[str, str, str] | None = None
        self._body = b""

    def start(self, lane: Lane, held: Held) -> None:
        """Start one attempt of ``held`` (its slot is taken: scheduling.py)."""
        claimed = held.claimed
        attempt = Attempt(
            lane, held, self._clock.now_ms(), time.monotonic(), self._revocations.count
        )
        try:
            problem = self._prepare(attempt)
            headers = attempt.headers
            if problem is None and headers is not None:
                answer = self._transport.post_at_once(
                    claimed.subscription.url, attempt.body, headers
                )
                if answer is not None:
                    self.tasks.add(answer)
                    answer.add_done_callback(functools.partial(self._answered, attempt))
                    return
        except Exception:
            # a fault of our own (say, a profile this version does not know): the task tries
            # again, and its end frees the lane's slot and logs what went wrong
            attempt.headers, problem = None, None
        self._start_task(attempt, problem)

    def _start_task(self, attempt: Attempt, problem: SendResult | None) -> None:
        task = asyncio.create_task(self._deliver(attempt, problem))
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self._task_done()
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task failed", exc_info=task.exception())

    async def _deliver(self, attempt: Attempt, problem: SendResult | None) -> None:
        try:
            revocations = self._revocations
            if revocations.revoked_after(attempt.lane.subscription.id, attempt.since):
                # revoked before the request went out (a task starts a moment after it is
                # made; a stale connection's attempt goes again): it is not sent
                return
            if not revocations.check_awake() or revocations.all_at > attempt.since:
                # the worker stood still, or stopped hearing revocations, since the attempt
                # was made: its subscription may have been disabled unheard meanwhile
                self._give_back([attempt.claimed], self._clock.now_ms())
                return
            if attempt.headers is None:
                problem = self._prepare(attempt)
            assert attempt.headers is not None
            result = problem or await self._transport.post(
                attempt.claimed.subscription.url,
                attempt.body,
                attempt.headers,
                started=attempt.started,  # a stale connection's attempt keeps its deadline
            )
            self._record(attempt, result)
        finally:
            self._ended(attempt.lane, attempt.kind, attempt.started_ms)

    def _answered(self, attempt: Attempt, answer: asyncio.Future[Any]) -> None:
        """An attempt ``start`` wrote at once has its answer (or failed, or was cancelled)."""
        self.tasks.discard(answer)
        if answer.cancelled():
            # stopping: as a cancelled task, nothing recorded
            self._ended(attempt.lane, attempt.kind, attempt.started_ms)
            return
        try:
            result = self._transport.result(answer, attempt.started)
            if result is None and not self.stopping:
                # the idle connection had been closed by the server: nothing was sent, so it
                # goes again as a task, on a new connection, within the attempt's deadline
                # (the slot carries over)
                self._start_task(attempt, None)
                return
            if result is not None:
                self._record(attempt, result)
            # (stopping, and nothing was sent: the lease lapses and the delivery falls due)
        except Exception:
            log.exception("recording an attempt failed")
        self._ended(attempt.lane, attempt.kind, attempt.started_ms)

    def _prepare(self, attempt: Attempt) -> SendResult | None:
        """Give the attempt its body and headers; or why it cannot be sent."""
        c = attempt.claimed
        material = outbound.open_material(self._box, c)
        body = attempt.body = self._render(c)
        if material.problem is not None:
            attempt.headers = {}
            return SendResult(status=None, body=None, error=material.problem, duration_ms=0)
        request = outbound.build_request(c, material, body=body, started_ms=attempt.started_ms)
        attempt.body, attempt.headers = request.body, request.headers
        attempt.sent = attempt_headers.sent_headers(request.headers, material.custom_headers)
        return None

    def _render(self, c: ClaimedDelivery) -> bytes:
        event, profile = c.event, c.subscription.profile
        key = (event.organization_id, event.id, profile)
        if key != self._body_key:
            self._body = outbound.render_body(c)
            self._body_key = key
        return self._body

    async def finish(self, grace_s: float) -> None:
        """Let the attempts under way finish within ``grace_s``, then cancel the rest (a
        stopping worker). Each wait is over a snapshot, and an attempt can start another (a
        stale connection's second try), hence the loops."""
        loop = asyncio.get_running_loop()
        grace_until = loop.time() + grace_s
        while self.tasks and (left := grace_until - loop.time()) > 0:
            await asyncio.wait(set(self.tasks), timeout=left)
        while self.tasks:
            late = set(self.tasks)
            for task in late:
                task.cancel()
            await asyncio.wait(late)
