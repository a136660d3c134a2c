"""Prometheus metrics, in one registry per process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_published = Counter(
            "hookline_events_published_total", "Events accepted", registry=self.registry
        )
        self.deliveries_created = Counter(
            "hookline_deliveries_created_total",
            "Deliveries created by routing",
            registry=self.registry,
        )
        self.attempts = Counter(
            "hookline_attempts_total",
            "Delivery attempts by result",
            ["result"],
            registry=self.registry,
        )
        self.attempt_seconds = Histogram(
            "hookline_attempt_seconds", "Duration of one HTTP attempt", registry=self.registry
        )
        self.claims = Counter(
            "hookline_claims_total",
            "Claims of due deliveries this worker ran, by whether they found any",
            ["found"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "hookline_deliveries_in_flight",
            "Attempts under way in this process",
            registry=self.registry,
        )
