"""Fixture: a whole telering pipeline (web node + worker processes) on the session broker, and
the exactly-once check of what simulator runs sent through it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.integrity import assert_exactly_once
from testkit.pipeline import PipelineHarness


@pytest.fixture
def pipeline_factory(kafka_broker, tmp_path: Path) -> Iterator:
    """Factory: `make(partitions=4, grant_ttl_s=5.0)` -> a PipelineHarness, stopped at teardown."""
    made: list[PipelineHarness] = []

    def make(**kwargs: object) -> PipelineHarness:
        harness = PipelineHarness(bootstrap=kafka_broker.bootstrap, workdir=tmp_path / f"pipeline{len(made)}", **kwargs)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.stop()


def stored_exactly_once(harness: PipelineHarness, *summaries: dict) -> None:
    """Once everything the simulator runs delivered is stored: stored once, sensor by sensor, and
    counted once (testkit.integrity)."""
    harness.wait_stored(sum(s["sent_valid"] for s in summaries))
    assert_exactly_once(harness.tally("simulated", list(summaries)))
