"""End to end through the real pipeline.

Needs: the session's real Apache Kafka broker, a real web node process on a loopback port with a
real SQLite file, real worker processes (`python -m stream_app`) and the simulator (`python -m simulator`).
"""

from __future__ import annotations

import pytest

from protocol.partitioning import partition_for
from protocol.token_messages import GrantMessage, Release
from stream_app.dlq import REASON_HEADER
from testkit.observers import owned, wait_split
from tests.support.pipeline import stored_exactly_once

pytestmark = pytest.mark.kafka


def test_counts_match_with_invalid_duplicate_and_out_of_order_input(pipeline_factory):
    harness = pipeline_factory(partitions=4)
    _, (worker,) = harness.start()
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

    stored_exactly_once(harness, summary)

    dlq = harness.dlq_messages()
    assert len(dlq) == summary["invalid"]
    assert all(dict(r.headers).get(REASON_HEADER) for r in dlq)
    assert worker.alive


@pytest.mark.parametrize("partitions", [1, 4, 8])
def test_ring_gives_every_receiver_its_turn(pipeline_factory, partitions):
    harness = pipeline_factory(partitions=partitions)
    harness.start()
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
    _, procs = harness.start(workers)
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
    stored_exactly_once(harness, summary)

    releases = [m for m in harness.token_messages() if isinstance(m, Release)]
    writers = {r.worker for r in releases if r.stored > 0}
    assert len(writers) == workers, f"every worker wrote during its receivers' turns: {writers}"
    assert sum(r.stored for r in releases) == summary["sent_valid"]
    assert leader.alive and all(p.alive for p in procs)
