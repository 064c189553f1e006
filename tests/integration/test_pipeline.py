"""End to end through the real pipeline.

Needs: the session's real Apache Kafka broker, a real web node process on a loopback port with a
real SQLite file, real worker processes (`python -m stream_app`) and the simulator (`python -m simulator`).
"""

from __future__ import annotations

from collections import Counter

import pytest

from protocol.partitioning import partition_for
from protocol.token_messages import GrantMessage, Release
from stream_app.dlq import REASON_HEADER
from testkit.observers import owned, wait_split

pytestmark = pytest.mark.kafka


def test_counts_match_with_invalid_duplicate_and_out_of_order_input(pipeline_factory):
    harness = pipeline_factory(partitions=4)
    harness.start_web_node()
    worker = harness.start_worker()
    harness.wait_worker_ready(worker)
    summary = harness.simulate(
        "--sensors",
        "8",
        "--count",
        "4000",
        "--rate",
        "0",
        "--seed",
        "7",
        "--invalid-fraction",
        "0.05",
        "--duplicate-fraction",
        "0.05",
        "--out-of-order-fraction",
        "0.05",
    )
    assert summary["invalid"] > 0 and summary["duplicates"] > 0 and summary["out_of_order"] > 0

    harness.wait_stored(summary["sent_valid"])
    stored = Counter(sensor for sensor, _ in harness.stored_keys())
    assert dict(stored) == {s: v["sent"] for s, v in summary["per_sensor"].items()}
    assert harness.stored() == summary["sent_valid"]

    dlq = harness.dlq_messages()
    assert len(dlq) == summary["invalid"]
    assert all(dict(r.headers).get(REASON_HEADER) for r in dlq)
    assert worker.alive


@pytest.mark.parametrize("partitions", [1, 4, 8])
def test_ring_gives_every_receiver_its_turn(pipeline_factory, partitions):
    harness = pipeline_factory(partitions=partitions)
    harness.start_web_node()
    worker = harness.start_worker()
    harness.wait_worker_ready(worker)
    summary = harness.simulate(
        "--sensors", str(4 * partitions), "--count", str(500 * partitions), "--rate", "0", "--seed", "3"
    )
    harness.wait_stored(summary["sent_valid"])

    messages = harness.token_messages()
    grants = [m for m in messages if isinstance(m, GrantMessage)]
    releases = [m for m in messages if isinstance(m, Release)]
    assert {g.receiver for g in grants} == set(range(partitions))
    assert [g.epoch for g in grants] == sorted({g.epoch for g in grants}), "epochs must strictly increase"
    # every receiver that had data wrote some of it during its own turns
    with_data = {partition_for(sensor, partitions) for sensor in summary["per_sensor"]}
    assert {r.receiver for r in releases if r.stored > 0} == with_data
    assert sum(r.stored for r in releases) == summary["sent_valid"]


@pytest.mark.parametrize("workers", [2])
def test_several_workers_share_the_receivers_and_counts_stay_exact(pipeline_factory, workers):
    """Partitions spread over the workers, the ring spans them, every valid reading stored once."""
    partitions = 4
    harness = pipeline_factory(partitions=partitions)
    harness.start_web_node()
    procs = [harness.start_worker() for _ in range(workers)]
    leader = wait_split(procs, partitions, harness.app_id)
    owners = {w.name: owned(w) for w in procs}
    assert all(owners.values()), owners  # each worker runs some receivers

    summary = harness.simulate(
        "--sensors",
        "16",
        "--count",
        "6000",
        "--rate",
        "0",
        "--seed",
        "11",
        "--duplicate-fraction",
        "0.05",
        "--out-of-order-fraction",
        "0.05",
    )
    harness.wait_stored(summary["sent_valid"])
    stored = Counter(sensor for sensor, _ in harness.stored_keys())
    assert dict(stored) == {s: v["sent"] for s, v in summary["per_sensor"].items()}
    assert harness.stored() == summary["sent_valid"]

    releases = [m for m in harness.token_messages() if isinstance(m, Release)]
    writers = {r.worker for r in releases if r.stored > 0}
    assert len(writers) == workers, f"every worker wrote during its receivers' turns: {writers}"
    assert sum(r.stored for r in releases) == summary["sent_valid"]
    assert leader.alive and all(p.alive for p in procs)
