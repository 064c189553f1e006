"""Supervised workers (issue 11): a background loop that fails ends the worker with a non-zero exit
and the reason in its log — never a live-looking process doing nothing. And the key file emptied
or half-rewritten during a run: the coordinator keeps signing with its last good keys and takes
the file up again once it is whole.

Each case runs a real worker process (`python -m testkit.faulty_worker`: the real worker with one
loop made to fail after it ran for a while) against the session's real Kafka broker and a real
web node.
"""

from __future__ import annotations

import json

import pytest
import requests

from protocol.keys import add_key, read_key_file
from testkit.processes import python_argv
from testkit.waiting import eventually
from tests.faults.hostile import assert_exactly_once, healthy

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
    harness.start_web_node()
    worker = harness.start_worker(argv=python_argv("testkit.faulty_worker", loop, "6"))
    harness.wait_worker_ready(worker)  # it was really working before the failure
    eventually(lambda: not worker.alive, timeout=60, message=f"the worker kept running after {loop} failed")
    assert worker.proc is not None and worker.proc.returncode != 0
    log = worker.log_text()
    assert "a background loop failed, stopping the worker" in log and "injected failure" in log


def test_the_key_file_rewritten_badly_during_a_run_changes_nothing(pipeline_factory):
    harness = pipeline_factory(partitions=4)
    harness.start_web_node()
    worker = harness.start_worker()
    harness.wait_worker_ready(worker)
    (good,) = read_key_file(harness.keys_file)
    simulator, summary_path = harness.start_simulator("--sensors", "8", "--rate", "120", "--duration", "14")
    harness.wait_stored(200)

    harness.keys_file.write_text("")  # an editor truncating the file before writing it
    eventually(lambda: "holds no key; keeping the 1 key(s) loaded" in worker.log_text(), timeout=30)
    stored = harness.stored()
    harness.wait_stored(stored + 200)  # still granting, still storing
    harness.keys_file.write_text(good[:20])  # half-written: a key too short to sign with
    eventually(lambda: worker.log_text().count("keeping the 1 key(s) loaded") >= 2, timeout=30)
    harness.wait_stored(harness.stored() + 200)
    harness.keys_file.write_text(good + "\n")  # whole again, and then rotated for real
    new = add_key(harness.keys_file)
    eventually(lambda: "grant keys reloaded" in worker.log_text(), timeout=30)

    eventually(lambda: not simulator.alive, timeout=120)
    assert_exactly_once(harness, json.loads(summary_path.read_text()))
    assert worker.alive and healthy(harness) and new in read_key_file(harness.keys_file)
    assert requests.get(worker.health_url, timeout=10).status_code == 200
    assert "Traceback" not in worker.log_text()
