"""The composition of storage and services for one process, built from the settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hookline.config import Settings
from hookline.metrics import Metrics
from hookline.services.auth_throttle import AuthThrottle
from hookline.services.calls import CallService
from hookline.services.clock import Clock, SystemClock
from hookline.services.deliveries import DeliveryService
from hookline.services.destinations import DestinationCheck
from hookline.services.health import HealthService
from hookline.services.keys import KeyService
from hookline.services.mailbox_webhooks import MailboxWebhookService
from hookline.services.master_key import MasterKeys, master_keys
from hookline.services.owners import OwnerService
from hookline.services.portal import PortalService
from hookline.services.publishing import PublishService
from hookline.services.pulls import PullService, PullWaiters
from hookline.services.retention import RetentionService
from hookline.services.secretbox import SecretBox
from hookline.services.send_limits import SendLimits, bounds
from hookline.services.sends import SendService
from hookline.services.signing import SigningService
from hookline.services.subscriptions import SubscriptionService
from hookline.services.tasks import TaskService
from hookline.services.transport import Transport
from hookline.services.users import UserService
from hookline.storage import Storage, open_storage
from hookline.tracing import Tracing


@dataclass
class Services:
    settings: Settings
    storage: Storage
    clock: Clock
    box: SecretBox
    master_keys: MasterKeys
    metrics: Metrics
    keys: KeyService
    owners: OwnerService
    subscriptions: SubscriptionService
    publishing: PublishService
    deliveries: DeliveryService
    signing: SigningService
    sends: SendService
    calls: CallService
    #: the bounds of test sends, replays and calls, shared with the worker (send_limits.py)
    send_limits: SendLimits
    mailbox_webhooks: MailboxWebhookService
    users: UserService
    health: HealthService
    pulls: PullService
    portal: PortalService
    retention: RetentionService
    tasks: TaskService
    wakers: list[Callable[[], None]] = field(default_factory=list)
    #: told of every subscription this process disables or deletes (its worker's revoke)
    revokers: list[Callable[[str], None]] = field(default_factory=list)
    #: OpenTelemetry traces, when on (tracing.py)
    tracing: Tracing | None = None

    def wake(self) -> None:
        for waker in self.wakers:
            waker()

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        transport: Transport | None = None,
        tracing: Tracing | None = None,
    ) -> Services:
        """Everything one process needs. ``transport`` sends test sends, replays and calls;
        ``tracing``: the traces' own (else from the environment, tracing.py)."""
        clock = clock or SystemClock()
        tracing = tracing or Tracing.from_environment()
        storage = open_storage(settings.database_url, pool_size=settings.database_pool_size)
        keys = master_keys(settings)
        box = keys.box()
        wakers: list[Callable[[], None]] = []

        def wake() -> None:
            for waker in wakers:
                waker()

        revokers: list[Callable[[str], None]] = []

        def revoke(sub_id: str) -> None:
            for revoker in revokers:
                revoker(sub_id)

        owners = OwnerService(storage, clock, allow_http=settings.allow_http)
        destinations = DestinationCheck(settings.allowed_networks)
        # test sends, replays and calls share one set of bounds (send_limits.py)
        limits = SendLimits(bounds(settings.max_in_flight, settings.delivery_timeout_s))
        subscriptions = SubscriptionService(
            storage,
            clock,
            box,
            allow_http=settings.allow_http,
            default_profile=settings.default_profile,
            destinations=destinations,
            wake=wake,
            revoke=revoke,
            max_in_flight_limit=settings.max_in_flight,
        )
        signing = SigningService(storage, clock, box)
        waiting_pulls = PullWaiters()
        publishing = PublishService(
            storage,
            clock,
            schedule=settings.retry_schedule,
            wake=wake,
            pulled=waiting_pulls.wake,
            tracing=tracing,
        )
        pulls = PullService(
            storage,
            clock,
            box,
            subscriptions,
            waiters=waiting_pulls,
            schedule=settings.retry_schedule,
            lease_s=settings.pull_lease_s,
            disable_after_s=settings.disable_after_s,
            on_disabled=publishing.announce_disabled,
        )
        metrics = Metrics()
        metrics.pulls_waiting.set_function(lambda: waiting_pulls.waiting)
        return cls(
            settings=settings,
            storage=storage,
            clock=clock,
            box=box,
            master_keys=keys,
            metrics=metrics,
            keys=KeyService(
                storage, clock, throttle=AuthThrottle(failures=settings.auth_failures_per_minute)
            ),
            owners=owners,
            subscriptions=subscriptions,
            publishing=publishing,
            deliveries=DeliveryService(storage),
            signing=signing,
            sends=SendService(
                storage,
                clock,
                subscriptions,
                signing,
                transport,
                limits=limits,
                default_cap=settings.max_in_flight_per_subscription,
            ),
            calls=CallService(
                storage,
                clock,
                box,
                owners,
                transport,
                timeout_s=settings.incoming_call_timeout_s,
                fallback=settings.incoming_call_fallback,
                allow_http=settings.allow_http,
                destinations=destinations,
                limits=limits,
                per_number_cap=settings.max_in_flight_per_subscription,
            ),
            send_limits=limits,
            mailbox_webhooks=MailboxWebhookService(
                storage,
                owners,
                subscriptions,
                allow_http=settings.allow_http,
                destinations=destinations,
            ),
            users=UserService(
                storage,
                clock,
                idle_s=settings.console_session_idle_s,
                max_age_s=settings.console_session_max_s,
            ),
            health=HealthService(storage, clock, subscriptions),
            pulls=pulls,
            portal=PortalService(
                storage,
                clock,
                idle_s=settings.console_session_idle_s,
                max_age_s=settings.console_session_max_s,
            ),
            retention=RetentionService(storage, clock, retention_days=settings.retention_days),
            tasks=TaskService(
                storage,
                clock,
                subscriptions,
                wake=wake,
                batch=settings.replay_batch,
                lease_ms=int(settings.replay_lease_s * 1000),
                poll_s=settings.poll_interval_s,
            ),
            wakers=wakers,
            revokers=revokers,
            tracing=tracing,
        )
