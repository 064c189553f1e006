"""The alert metrics, in the web node's own registry (web_node/metrics.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from web_node.alerts.engine import Transition

POST_OUTCOMES = ("ok", "error")


class AlertMetrics(Collector):
    """Counters of transitions, Alertmanager posts and reload failures; `telering_alerts` is a
    gauge of the pairs now pending or firing, refreshed from the database (`set_current`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.transitions = Counter(
            "telering_alert_transitions",
            "Alert transitions recorded by this web node",
            ["rule", "to"],
            registry=registry,
        )
        self.posts = Counter(
            "telering_alertmanager_posts", "POSTs to Alertmanager's /api/v2/alerts", ["outcome"], registry=registry
        )
        self.reload_failures = Counter(
            "telering_alert_rules_reload_failures",
            "Rules file changes that did not parse or validate (the last good rules stay)",
            registry=registry,
        )
        for outcome in POST_OUTCOMES:
            self.posts.labels(outcome)
        self._current: dict[tuple[str, str, str], int] = {}
        registry.register(self)

    def recorded(self, transitions: Sequence[Transition]) -> None:
        for t in transitions:
            self.transitions.labels(t.rule, t.to_state).inc()

    def set_current(self, counts: dict[tuple[str, str, str], int]) -> None:
        """(rule, severity, state) -> how many sensors are in that state now."""
        self._current = counts

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "telering_alerts", "Alerts now pending or firing", labels=["rule", "severity", "state"]
        )
        for (rule, severity, state), count in sorted(self._current.items()):
            gauge.add_metric([rule, severity, state], count)
        yield gauge
