"""Pull subscriptions' schemas: pull, acknowledge, release."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from hookline.api.schemas.common import In, Int, Out
from hookline.services.pulls import MAX_PULL, MAX_WAIT_S, Pulled

_Number = Annotated[float, Field(strict=False)]


class PullIn(In):
    """What to lease."""

    max: Annotated[Int, Field(ge=1, le=MAX_PULL)] = 10
    """At most this many deliveries (1-100)."""
    wait_s: Annotated[_Number, Field(ge=0, le=MAX_WAIT_S)] = 0
    """Seconds (0-30) to wait for a delivery when none is due now (a long poll)."""


class PulledOut(Out):
    """One leased delivery: the request its profile would POST, signed."""

    delivery_id: str
    """The delivery."""
    lease: str
    """The lease, to acknowledge or release it with (opaque)."""
    attempt: int
    """Which attempt this is (1 for the first)."""
    event_id: str
    """The event delivered."""
    event_type: str
    """Its type."""
    headers: dict[str, str]
    """Every header of the request, signature headers included."""
    body: str
    """The request body, exactly (the signature covers it)."""

    @classmethod
    def of(cls, p: Pulled) -> PulledOut:
        return cls(
            delivery_id=p.delivery_id,
            lease=p.lease,
            attempt=p.attempt,
            event_id=p.event_id,
            event_type=p.event_type,
            headers=p.headers,
            body=p.body.decode("utf-8"),
        )


class PullOut(Out):
    """Leased deliveries."""

    deliveries: list[PulledOut]
    """Oldest due first; empty when none fell due within `wait_s`. Each must be acknowledged
    (or released) before its lease runs out, or it falls due again."""


class Leased(In):
    """A leased delivery."""

    delivery_id: str = Field(max_length=64)
    """The delivery."""
    lease: str = Field(max_length=64)
    """Its lease, as pulled."""


class AckResultIn(Leased):
    """The outcome of one pulled delivery."""

    status: Annotated[Int, Field(ge=100, le=599)] | None
    """The receiver's HTTP status (2xx: delivered; anything else is retried on the
    subscription's schedule); null when there was no answer."""
    body: str | None = Field(None, max_length=65_536)
    """The receiver's answer, for the log."""
    error: str | None = Field(None, max_length=2000)
    """Why there was no answer (with a null `status`), for the log."""


class AckIn(In):
    """Outcomes of pulled deliveries."""

    results: list[AckResultIn] = Field(min_length=1, max_length=MAX_PULL)
    """One per delivery (1-100)."""


class AckResultOut(Out):
    """Whether one outcome was recorded."""

    delivery_id: str
    """The delivery."""
    recorded: bool
    """Whether the outcome was recorded as an attempt."""
    status: int = Field(json_schema_extra={"enum": [200, 409]})
    """200: recorded. 409: the lease is unknown, released or expired (the delivery may have
    been pulled again): nothing was changed."""


class AckOut(Out):
    """Per result, in the order sent."""

    results: list[AckResultOut]
    """One per result sent."""


class ReleaseIn(In):
    """Leased deliveries to hand back unsent."""

    leases: list[Leased] = Field(min_length=1, max_length=MAX_PULL)
    """Each is due again at once, with no attempt counted (1-100)."""
