"""Running attempts (attempts.py) through a test's transport: what goes out, what is recorded,
and what must not go (its subscription revoked, or the worker deaf or standing still since the
attempt began)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from hookline.core.models import ClaimedDelivery
from hookline.core.outcome import SendResult
from hookline.delivery.attempts import Attempt, Attempts
from hookline.delivery.lanes import Held, Lane
from hookline.delivery.pools import Kind
from hookline.delivery.revocations import STALL_S, Revocations

from .kit import LEASE_MS, World, until


class Run:
    """Attempts on ``world``'s transport, their results, ends and give-backs noted."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.recorded: list[tuple[str, SendResult]] = []
        self.ended: list[Kind] = []
        self.given_back: list[str] = []
        self.revocations = Revocations(lambda why: None, monotonic=world.clock.monotonic)
        self.attempts = Attempts(
            transport=world.transport,
            box=world.box,
            clock=world.clock,
            revocations=self.revocations,
            record=self._record,
            ended=self._ended,
            task_done=lambda: None,
            give_back=self._give_back,
            tasks=set(),
        )

    def _record(self, attempt: Attempt, result: SendResult) -> None:
        self.recorded.append((attempt.claimed.delivery.id, result))

    def _ended(self, lane: Lane, kind: Kind, started_ms: int) -> None:
        self.ended.append(kind)

    def _give_back(self, claimed: Sequence[ClaimedDelivery], now_ms: int) -> None:
        self.given_back += [c.delivery.id for c in claimed]

    async def claimed(self, **fields: object) -> tuple[Lane, Held]:
        sub = await self.world.subscription(**fields)
        await self.world.publish(sub)
        [c] = await self.world.storage.claim_due(self.world.clock.now, 1, LEASE_MS)
        return Lane(subscription=sub, cap=2), Held(c, self.world.clock.now + LEASE_MS)


@pytest.fixture
async def world() -> World:
    return await World().start()


async def test_an_attempt_is_sent_and_its_result_recorded(world: World) -> None:
    run = Run(world)
    lane, held = await run.claimed()
    run.attempts.start(lane, held)
    await until(lambda: len(world.transport.requests) == 1, "the request")
    [request] = world.transport.requests
    assert request.url == lane.subscription.url
    assert request.headers["Content-Type"] == "application/json"
    request.reply(200)
    await until(lambda: run.ended == ["probe"], "the attempt's end")
    [(delivery_id, result)] = run.recorded
    assert (delivery_id, result.status) == (held.claimed.delivery.id, 200)
    assert not run.attempts.tasks


async def test_without_a_signing_key_nothing_is_sent_and_the_failure_is_recorded(
    world: World,
) -> None:
    run = Run(world)
    lane, held = await run.claimed(profile="inkbox")  # the owner has no signing key
    run.attempts.start(lane, held)
    await until(lambda: bool(run.ended), "the attempt's end")
    assert world.transport.requests == []
    [(_, result)] = run.recorded
    assert result.status is None and result.error is not None and "signing key" in result.error


async def test_a_subscription_revoked_before_the_request_went_out_is_not_sent(
    world: World,
) -> None:
    run = Run(world)
    lane, held = await run.claimed()
    run.attempts.start(lane, held)  # a task, not begun yet
    run.revocations.revoke(lane.subscription.id)
    await until(lambda: bool(run.ended), "the attempt's end")
    assert world.transport.requests == [] and run.recorded == []
    assert run.given_back == []  # its storage took the delivery away already


@pytest.mark.parametrize("why", ["deaf", "stood still"])
async def test_an_attempt_of_a_worker_that_may_have_missed_a_revocation_goes_back(
    world: World, why: str
) -> None:
    run = Run(world)
    lane, held = await run.claimed()
    run.attempts.start(lane, held)
    if why == "deaf":
        run.revocations.heard(False)
    else:
        world.clock.stand_still(STALL_S + 1)
        run.revocations.all_given_back()  # as the dispatcher does on a stall
    await until(lambda: bool(run.ended), "the attempt's end")
    assert world.transport.requests == []
    assert run.given_back == [held.claimed.delivery.id]


async def test_finishing_cancels_what_outlasts_the_grace(world: World) -> None:
    run = Run(world)
    lane, held = await run.claimed()
    run.attempts.start(lane, held)
    await until(lambda: len(world.transport.requests) == 1, "the request")
    await asyncio.wait_for(run.attempts.finish(0), 5)  # no grace: cancelled at once
    assert not run.attempts.tasks
    assert run.recorded == [] and run.ended == ["probe"]
