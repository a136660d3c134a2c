"""Prometheus metrics, in one registry per process."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: subscriptions with a label of their own in the per-subscription latency histogram: the
#: series a scrape carries stay bounded however many subscriptions there are
MAX_SUBSCRIPTION_LABELS = 100
OTHER_SUBSCRIPTIONS = "other"
#: states whose gauge is shown even at zero (another state, once counted, is shown too)
DELIVERY_STATES = frozenset({"pending", "delivering", "succeeded", "failed", "cancelled", "held"})


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
        self.pulls_waiting = Gauge(
            "hookline_pulls_waiting",
            "Pulls of pull subscriptions waiting for a delivery in this process",
            registry=self.registry,
        )
        self.attempt_seconds_by_subscription = Histogram(
            "hookline_subscription_attempt_seconds",
            "Duration of one HTTP attempt, per subscription: the first "
            f"{MAX_SUBSCRIPTION_LABELS} subscriptions this process delivers to have their own "
            'label, every later one counts under "other"',
            ["subscription"],
            registry=self.registry,
        )
        self._by_subscription: dict[str, Histogram] = {}
        self.deliveries = Gauge(
            "hookline_deliveries",
            "Deliveries in each state in the whole database, refreshed by the worker's "
            "periodic summary (HOOKLINE_LOG_SUMMARY_INTERVAL_S), not at each scrape",
            ["state"],
            registry=self.registry,
        )

    def subscription_latency(self, subscription_id: str) -> Histogram:
        """The histogram child of one subscription (bounded: see MAX_SUBSCRIPTION_LABELS)."""
        child = self._by_subscription.get(subscription_id)
        if child is None:
            if len(self._by_subscription) >= MAX_SUBSCRIPTION_LABELS:
                return self.attempt_seconds_by_subscription.labels(OTHER_SUBSCRIPTIONS)
            child = self.attempt_seconds_by_subscription.labels(subscription_id)
            self._by_subscription[subscription_id] = child
        return child

    def set_delivery_states(self, counts: Mapping[str, int]) -> None:
        """The gauges of delivery states: every state known, those with none at zero."""
        for state in DELIVERY_STATES | set(counts):
            self.deliveries.labels(state).set(counts.get(state, 0))
