"""Every alert transition exactly once through the other faults of the pipeline: the web node
killed with kill -9 and restarted on its database, a rebalance (a second worker joins, the first
stops) and a broker restart. Each drives a stream of readings oscillating around the crash-*
rules' limits while the fault happens, then checks (tests/alerts/test_pipeline.py's
`assert_every_transition_once`) sent = stored, the history against one crash-free pass of the
engine over the stored readings, and every transition id on the alerts topic.

Real processes throughout: the session's broker (the broker restart takes a private one, as
testkit's broker-restart scenario does), web node and worker processes, a SQLite file, and
readings produced by librdkafka. The web node and rebalance tests share one pipeline.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from testkit.observers import owned, wait_split
from testkit.pipeline import PipelineHarness
from testkit.waiting import eventually
from tests.alerts.test_pipeline import RULES, _produce, _stored, assert_every_transition_once, oscillating_stream

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PER_SECOND = 300  # the stream lasts tens of seconds: the fault falls well inside it


def _start(harness: PipelineHarness) -> dict[str, str]:
    rules = harness.workdir / "rules.yaml"
    rules.write_text(RULES)
    env = {"TELERING_ALERT_RULES": str(rules)}
    harness.start_web_node(env=env)
    harness.wait_worker_ready(harness.start_worker())
    return env


@pytest.fixture(scope="module")
def pipeline(kafka_broker, tmp_path_factory) -> Iterator[PipelineHarness]:
    harness = PipelineHarness(bootstrap=kafka_broker.bootstrap, workdir=tmp_path_factory.mktemp("alerts-faults"))
    try:
        harness.web_env = _start(harness)
        yield harness
    finally:
        harness.stop()


def _during_stream(harness: PipelineHarness, prefix: str, per_sensor: int, fault: Callable[[int], None]) -> int:
    """Stream 4 oscillating sensors; once a quarter is stored, run `fault(total)` while the stream
    is still running; returns how many readings were sent."""
    messages = oscillating_stream(prefix, sensors=4, per_sensor=per_sensor)
    total = len(messages)
    producing = threading.Thread(target=_produce, args=(harness, messages), kwargs={"per_second": PER_SECOND})
    producing.start()
    try:
        eventually(lambda: _stored(harness, prefix) >= total // 4, timeout=90)
        assert _stored(harness, prefix) < total, "the stream was over before the fault"
        fault(total)
    finally:
        producing.join()
    return total


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_web_node_killed_mid_stream_records_every_transition_exactly_once(pipeline):
    def kill_web_node(_total: int) -> None:
        web = next(p for p in reversed(pipeline.processes) if p.name.startswith("web") and p.alive)
        web.kill()  # SIGKILL: its store transactions stop wherever they were
        # its WEB_NODE_PROCESSES children die a moment after it: restart once none listens
        eventually(lambda: not _listening(pipeline.web_port), timeout=30, message="the web node's processes stayed up")
        pipeline.start_web_node(env=pipeline.web_env)  # the same database

    total = _during_stream(pipeline, "crash-web-", 1500, kill_web_node)
    assert_every_transition_once(pipeline, "crash-web-", total)


def test_rebalance_mid_stream_records_every_transition_exactly_once(pipeline):
    def rebalance(total: int) -> None:
        (first,) = [w for w in pipeline.workers() if w.alive]
        second = pipeline.start_worker()
        pipeline.wait_worker_ready(second)
        wait_split([first, second], pipeline.partitions, pipeline.app_id)
        assert _stored(pipeline, "crash-rebal-") < total, "the stream was over before the second worker joined"
        first.stop()
        eventually(lambda: owned(second) == set(range(pipeline.partitions)), timeout=60)

    total = _during_stream(pipeline, "crash-rebal-", 4000, rebalance)
    assert_every_transition_once(pipeline, "crash-rebal-", total)


def test_broker_restart_mid_stream_records_every_transition_exactly_once(kafka_factory, tmp_path):
    broker = kafka_factory()
    harness = PipelineHarness(bootstrap=broker.bootstrap, workdir=tmp_path / "pipeline")
    try:
        _start(harness)
        worker = harness.workers()[0]

        def restart_broker(_total: int) -> None:
            broker.stop()  # cleanly, then again on its data, as the broker-restart scenario does
            broker.start()

        total = _during_stream(harness, "crash-broker-", 1500, restart_broker)
        assert_every_transition_once(harness, "crash-broker-", total)
        assert worker.alive, "the worker must ride out the outage"
    finally:
        harness.stop()
