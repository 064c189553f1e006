"""Supervised workers (issue 11): a background loop that fails ends the worker with a non-zero exit
and the reason in its log — never a live-looking process doing nothing.

Each case runs a real worker process (`python -m testkit.faulty_worker`: the real worker with one
loop made to fail after it ran for a while) against the session's real Kafka broker and a real
web node.
"""

from __future__ import annotations

import pytest

from testkit.processes import python_argv
from testkit.waiting import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

LOOPS = [
    "stream_app.consumer:ReadingsConsumer.batches",  # the receivers' consume loop
    "stream_app.receiver_side:ReceiverSide._commit_loop",
    "stream_app.token_channel:TokenChannel.records",  # the token loop
    "stream_app.token_side:TokenSide._announce_presence",
    "stream_app.coordinator:Coordinator.run",
]


@pytest.mark.parametrize("loop", LOOPS, ids=lambda target: target.rpartition(".")[2])
def test_a_failed_loop_ends_the_worker_non_zero_with_the_reason(pipeline_factory, loop):
    harness = pipeline_factory(partitions=2)
    # ready (and so really working) before the failure
    _, (worker,) = harness.start(worker_argv=python_argv("testkit.faulty_worker", loop, "6"))
    eventually(lambda: not worker.alive, timeout=60, message=f"the worker kept running after {loop} failed")
    assert worker.proc is not None and worker.proc.returncode != 0
    log = worker.log_text()
    assert "a background loop failed, stopping the worker" in log and "injected failure" in log
