"""The pipeline on Apache Kafka 3.9.1, the release before the default 4.x (`KAFKA_VERSION=3.9.1`).

Needs: a private real Kafka 3.9.1 broker (kafka_local, its own jar cache), a real web node
process with a real SQLite file, a real worker process and the simulator.
"""

from __future__ import annotations

from kafka_local import KAFKA_VERSION
from testkit.pipeline import PipelineHarness

OLD_RELEASE = "3.9.1"


def test_a_demo_sized_run_on_kafka_3_stores_what_was_sent(kafka_factory, tmp_path):
    assert KAFKA_VERSION.startswith("4."), "3.9.1 is the older release kept selectable"
    broker = kafka_factory(version=OLD_RELEASE)
    assert "with metadata.version 3.9-" in broker.log_path.read_text()  # formatted by a 3.9 StorageTool
    harness = PipelineHarness(bootstrap=broker.bootstrap, workdir=tmp_path / "pipeline")
    try:
        harness.start_web_node()
        harness.wait_worker_ready(harness.start_worker())
        # the demo's shape (10 sensors at 200 readings/s), for a few seconds
        summary = harness.simulate("--sensors", "10", "--rate", "200", "--count", "1000", "--seed", "3")
        harness.wait_stored(summary["sent_valid"])
        assert harness.stored() == summary["sent_valid"] == 1000
    finally:
        harness.stop()
