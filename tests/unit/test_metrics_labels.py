"""The per-subscription latency histogram keeps its label set bounded."""

from __future__ import annotations

from hookline.metrics import MAX_SUBSCRIPTION_LABELS, OTHER_SUBSCRIPTIONS, Metrics


def test_subscriptions_past_the_bound_share_one_label() -> None:
    metrics = Metrics()
    for n in range(MAX_SUBSCRIPTION_LABELS + 50):
        metrics.subscription_latency(f"sub-{n}").observe(0.01)
    samples = [
        s
        for family in metrics.registry.collect()
        if family.name == "hookline_subscription_attempt_seconds"
        for s in family.samples
        if s.name.endswith("_count")
    ]
    labels = {s.labels["subscription"] for s in samples}
    assert len(labels) == MAX_SUBSCRIPTION_LABELS + 1
    assert OTHER_SUBSCRIPTIONS in labels
    other = next(s for s in samples if s.labels["subscription"] == OTHER_SUBSCRIPTIONS)
    assert other.value == 50
    # the first ones keep theirs, seen again
    metrics.subscription_latency("sub-0").observe(0.01)
    assert "sub-0" in labels
