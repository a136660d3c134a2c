"""OpenTelemetry traces, optional (``pip install 'hookline[otel]'``): a publish is one span,
and each attempt of each of its deliveries a child span in the same trace.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (or a test hands in its own tracer
provider); off, nothing here runs: the publish road and the dispatcher test one attribute
for None. The publish span's context is kept in this process's memory, by event, for the
last ``MAX_TRACED_EVENTS`` events: in ``serve`` (API and worker in one process) every attempt
joins its publish's trace. An attempt made by another process (``hookline worker`` beside
``hookline api``), or after this one restarted, starts a trace of its own, which carries the
event's id (``hookline.event_id``) to find its publish by.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("hookline")

#: events whose publish span is remembered for their attempts (oldest forgotten first)
MAX_TRACED_EVENTS = 10_000


class Tracing:
    """Spans of publishes and attempts, through ``provider`` (an SDK ``TracerProvider``)."""

    def __init__(self, provider: Any) -> None:
        from opentelemetry import trace

        self._trace = trace
        self._provider = provider
        self._tracer = provider.get_tracer("hookline")
        self._contexts: OrderedDict[tuple[str, str], Any] = OrderedDict()

    @classmethod
    def from_environment(cls) -> Tracing | None:
        """OTLP export when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and the extra installed
        (the exporter reads its other ``OTEL_*`` settings itself)."""
        if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            return None
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            log.warning(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: "
                "no traces (pip install 'hookline[otel]')"
            )
            return None
        service = os.environ.get("OTEL_SERVICE_NAME", "hookline")
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return cls(provider)

    def published(
        self,
        org_id: str,
        events: Sequence[tuple[str, int]],
        *,
        batch: bool,
        start_ns: int,
        end_ns: int,
    ) -> None:
        """One publish: ``events`` are (event id, deliveries it made)."""
        span = self._tracer.start_span(
            "hookline.publish",
            start_time=start_ns,
            attributes={
                "hookline.organization_id": org_id,
                "hookline.batch": batch,
                "hookline.events": len(events),
                "hookline.deliveries": sum(n for _, n in events),
                **({"hookline.event_id": events[0][0]} if len(events) == 1 else {}),
            },
        )
        context = span.get_span_context()
        remembered = self._contexts
        for event_id, deliveries in events:
            if deliveries:
                remembered[(org_id, event_id)] = context
        while len(remembered) > MAX_TRACED_EVENTS:
            remembered.popitem(last=False)
        span.end(end_time=end_ns)

    def attempted(
        self,
        org_id: str,
        event_id: str,
        attributes: dict[str, Any],
        *,
        error: str | None,
        start_ns: int,
        end_ns: int,
    ) -> None:
        """One attempt, a child of its event's publish span when this process holds it."""
        parent = self._contexts.get((org_id, event_id))
        context = (
            self._trace.set_span_in_context(self._trace.NonRecordingSpan(parent))
            if parent is not None
            else None
        )
        attributes["hookline.event_id"] = event_id
        span = self._tracer.start_span(
            "hookline.attempt", context=context, start_time=start_ns, attributes=attributes
        )
        if error is not None:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, error))
        span.end(end_time=end_ns)

    def close(self) -> None:
        """Export what is buffered (at the process's end)."""
        self._provider.shutdown()
