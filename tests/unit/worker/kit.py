"""What the worker's unit tests drive it with: the in-memory storage (which passes the storage
contract suite), a clock of the test's own, and a transport whose every request waits for the
test's answer. No sockets and no sleeps: time moves when a test moves it, and a test waits for
what it expects to happen (``until``), never for a while."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence, Sized
from typing import Any

from hookline.core import ids
from hookline.core.models import Delivery, Event, Organization, Subscription
from hookline.core.outcome import SendResult
from hookline.delivery.dispatcher import Dispatcher
from hookline.metrics import Metrics
from hookline.services.sealed_places import sub_place
from hookline.services.secretbox import SecretBox, new_master_key
from hookline.services.send_limits import SendLimits, bounds
from hookline.storage.memory import MemoryStorage
from hookline.storage.records import AttemptFilter, NewDeliveries, SubscriptionSecrets

START_MS = 1_800_000_000_000
ORG_ID = "org_0000000000000001"
TIMEOUT_S = 10.0
#: the worker's lease with that timeout (dispatcher.py: two timeouts and a margin)
LEASE_MS = 30_000
SCHEDULE = (0, 30, 120)
WAIT_S = 5.0  # how long a test waits for what it expects, at most


class Clock:
    """The worker's time: ``now_ms`` moves when the test says; the outcome writer's waits
    move it too. ``monotonic`` (the worker's measure of standing still) moves only by
    ``stand_still``."""

    def __init__(self) -> None:
        self.now = START_MS
        self._still_s = 0.0

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms

    async def sleep(self, seconds: float) -> None:
        self.now += round(seconds * 1000)
        await asyncio.sleep(0)

    def monotonic(self) -> float:
        return self._still_s

    def stand_still(self, seconds: float) -> None:
        self._still_s += seconds


class Request:
    """One request the worker sent; it waits for ``reply`` or ``fail``."""

    def __init__(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        self.url = url
        self.body = body
        self.headers = dict(headers)
        self.answer: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()

    @property
    def done(self) -> bool:
        return self.answer.done()

    def reply(self, status: int = 200, *, retry_after: str | None = None) -> None:
        self.answer.set_result(
            SendResult(status=status, body="ok", error=None, duration_ms=1, retry_after=retry_after)
        )

    def fail(self, error: str = "connection failed: refused") -> None:
        self.answer.set_result(SendResult(status=None, body=None, error=error, duration_ms=1))


#: what a request answered ``stale`` comes to: its connection had been closed, nothing sent
STALE = SendResult(status=None, body=None, error="stale", duration_ms=0)


class Transport:
    """Records every request. With ``at_once``, requests go the worker's road without a task
    (``post_at_once``), else as tasks (``post``)."""

    def __init__(self, *, at_once: bool = False) -> None:
        self.at_once = at_once
        self.requests: list[Request] = []
        #: per URL, the most requests under way at once
        self.most: dict[str, int] = {}

    def _sent(self, url: str, body: bytes, headers: Mapping[str, str]) -> Request:
        request = Request(url, body, headers)
        self.requests.append(request)
        self.most[url] = max(self.most.get(url, 0), sum(1 for r in self.waiting() if r.url == url))
        return request

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout_s: float | None = None,
        started: float | None = None,
    ) -> SendResult:
        return await self._sent(url, body, headers).answer

    def post_at_once(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> asyncio.Future[Any] | None:
        if not self.at_once:
            return None
        return self._sent(url, body, headers).answer

    def result(self, answer: asyncio.Future[Any], started: float) -> SendResult | None:
        found: SendResult = answer.result()
        return None if found is STALE else found

    def to(self, sub: Subscription) -> list[Request]:
        return [r for r in self.requests if r.url == sub.url]

    def waiting(self, sub: Subscription | None = None) -> list[Request]:
        """Requests under way (to ``sub``'s URL), oldest first."""
        return [r for r in self.requests if not r.done and (sub is None or r.url == sub.url)]


async def until(predicate: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    """Wait until ``predicate`` holds (the worker runs meanwhile), at most WAIT_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        found = predicate()
        if found if isinstance(found, bool) else await found:
            return
        if loop.time() > deadline:
            raise AssertionError(f"waited in vain for {what}")
        await asyncio.sleep(0.001)


async def until_count(found: Callable[[], Sized], n: int, what: str) -> None:
    """Wait until ``found()`` has ``n`` items."""
    await until(lambda: len(found()) == n, what)


_urls = itertools.count()


class World:
    """An organization in a memory storage, with subscriptions and events made in it, and
    workers on it that send through ``transport`` on ``clock``."""

    def __init__(
        self,
        *,
        at_once: bool = False,
        storage: MemoryStorage | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.storage = storage or MemoryStorage()
        self.clock = clock or Clock()
        self.transport = Transport(at_once=at_once)
        self.box = SecretBox(new_master_key())
        self.metrics = Metrics()
        self.sends = SendLimits(bounds(64, TIMEOUT_S))

    async def start(self) -> World:
        await self.storage.ensure_default_organization(
            Organization(id=ORG_ID, name="Default", created_at_ms=START_MS)
        )
        return self

    async def subscription(self, **fields: Any) -> Subscription:
        sub = Subscription(
            id=ids.new_uuid(),
            organization_id=ORG_ID,
            url=f"https://hooks{next(_urls)}.example.com/in",
            event_types=("message.received",),
            created_at_ms=self.clock.now,
            updated_at_ms=self.clock.now,
            **fields,
        )
        secret = self.box.seal(ids.new_standard_secret(), sub_place("secret_enc", sub.id))
        await self.storage.insert_subscription(sub, SubscriptionSecrets(secret_enc=secret))
        return sub

    def event(self, sub: Subscription) -> NewDeliveries:
        """An event for ``sub`` with its one delivery, due now."""
        now = self.clock.now
        event = Event(
            id=ids.new_event_id(),
            organization_id=ORG_ID,
            type="message.received",
            data={"message_id": "msg_1"},
            occurred_at_ms=now,
            created_at_ms=now,
        )
        delivery = Delivery(
            id=ids.new_uuid(),
            organization_id=ORG_ID,
            event_id=event.id,
            subscription_id=sub.id,
            state="pending",
            attempts=0,
            next_attempt_at_ms=now,
            first_attempt_at_ms=None,
            last_attempt_at_ms=None,
            last_status=None,
            last_error=None,
            created_at_ms=now,
            updated_at_ms=now,
        )
        return NewDeliveries(event=event, deliveries=[delivery])

    async def publish(self, sub: Subscription, n: int = 1) -> list[Delivery]:
        """``n`` events for ``sub``, each with one delivery due now."""
        items = [self.event(sub) for _ in range(n)]
        await self.storage.insert_events_with_deliveries(items)
        return [d for item in items for d in item.deliveries]

    async def logged(self) -> int:
        """Attempts in the log."""
        return len(await self.storage.list_attempts(ORG_ID, AttemptFilter(limit=1000)))

    async def stored(self, delivery: Delivery) -> Delivery:
        found = await self.storage.deliveries_of_event(ORG_ID, delivery.event_id)
        return next(d for d in found if d.id == delivery.id)

    async def states(self, deliveries: Sequence[Delivery]) -> list[str]:
        return [(await self.stored(d)).state for d in deliveries]

    def in_state(
        self, deliveries: Sequence[Delivery], *states: str
    ) -> Callable[[], Awaitable[bool]]:
        """A predicate for ``until``: the deliveries are in these states, in order."""

        async def check() -> bool:
            return await self.states(deliveries) == list(states)

        return check

    def worker(self, **settings: Any) -> Dispatcher:
        """A worker on this world: small bounds, a short poll (a claim finds what the clock
        made due soon without a wake-up)."""
        values: dict[str, Any] = {
            "schedule": SCHEDULE,
            "timeout_s": TIMEOUT_S,
            "max_in_flight": 16,
            "max_in_flight_per_subscription": 4,
            "poll_interval_s": 0.01,
            "sends": self.sends,
        }
        values.update(settings)
        return Dispatcher(
            storage=self.storage,
            transport=self.transport,
            box=self.box,
            clock=self.clock,
            metrics=self.metrics,
            monotonic=self.clock.monotonic,
            sleep=self.clock.sleep,
            **values,
        )

    @contextlib.asynccontextmanager
    async def running(self, **settings: Any) -> AsyncIterator[Dispatcher]:
        """A worker running for the block, stopped (and its stop awaited) after it."""
        worker = self.worker(**settings)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            yield worker
        finally:
            stop.set()
            # attempts still waiting for the test's answer end now, as a timeout would
            while not task.done():
                for request in self.transport.waiting():
                    request.fail("timed out")
                await asyncio.wait({task}, timeout=0.01)
