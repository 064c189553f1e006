"""The worker's Prometheus metrics (GET /metrics), read from its two sides' `status()` at scrape time.

Faust's own metrics (its Prometheus monitor) are in the same registry, under `faust_`.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stream_app.receiver_side import ReceiverStatus
from stream_app.token_channel import SKIP_REASONS
from stream_app.token_side import TokenStatus
from stream_app.worker import Worker

PREFIX = "telering_worker"


class WorkerCollector(Collector):
    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def collect(self) -> Iterator[Metric]:
        worker, receivers, tokens = self._worker, self._worker.receivers, self._worker.tokens
        letters = CounterMetricFamily(
            f"{PREFIX}_readings_dead_lettered",
            "Messages dead-lettered, by kind (invalid: the worker's validation; refused: the web node's)",
            labels=["kind"],
        )
        for kind in ("invalid", "refused"):
            letters.add_metric([kind], worker.dead_letters.sent[kind])
        yield letters
        if receivers is None or tokens is None:
            return
        yield from _receiver_metrics(receivers.status())
        yield from _token_metrics(tokens.status(), leader=worker.app.is_leader())


def _receiver_metrics(status: ReceiverStatus) -> Iterator[Metric]:
    yield CounterMetricFamily(
        f"{PREFIX}_readings_consumed", "Messages read from the readings topic", value=status.consumed
    )
    buffered = GaugeMetricFamily(
        f"{PREFIX}_readings_buffered", "Valid readings waiting for a turn", labels=["partition"]
    )
    for partition, pending in status.pending.items():
        buffered.add_metric([str(partition)], pending)
    yield buffered
    lag = GaugeMetricFamily(
        f"{PREFIX}_commit_lag",
        "Messages of a partition past its committed offset (read but not yet stored, or not read yet)",
        labels=["partition"],
    )
    for partition, behind in sorted(status.lag.items()):
        lag.add_metric([str(partition)], behind)
    yield lag
    yield GaugeMetricFamily(
        f"{PREFIX}_receivers_owned", "Receivers (partitions) this worker owns", value=len(status.pending)
    )


def _token_metrics(status: TokenStatus, *, leader: bool) -> Iterator[Metric]:
    yield CounterMetricFamily(f"{PREFIX}_turns", "Turns taken by this worker's receivers", value=status.turns)
    answers = CounterMetricFamily(
        f"{PREFIX}_web_node_answers",
        "The web node's answers to batches, by status and error code (unavailable: no decisive answer)",
        labels=["status", "code"],
    )
    for (code_status, code), n in sorted(status.answers.items()):
        answers.add_metric([code_status, code], n)
    yield answers
    coordinator = status.coordinator
    yield GaugeMetricFamily(f"{PREFIX}_leader", "1 on the worker that runs the coordinator", value=1 if leader else 0)
    yield CounterMetricFamily(
        f"{PREFIX}_grants_issued", "Grants this worker issued as coordinator", value=coordinator.grants_issued
    )
    yield CounterMetricFamily(
        f"{PREFIX}_turns_expired",
        "Turns that ended without a release before expiry",
        value=coordinator.expired_turns,
    )
    yield GaugeMetricFamily(
        f"{PREFIX}_epoch", "The highest epoch this worker has seen", value=coordinator.highest_epoch
    )
    skipped = CounterMetricFamily(
        f"{PREFIX}_token_messages_skipped", "Token-topic messages skipped, by reason", labels=["reason"]
    )
    for reason in SKIP_REASONS:
        skipped.add_metric([reason], status.skipped[reason])
    yield skipped


def registry_for(worker: Worker) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(WorkerCollector(worker))
    return registry
