"""Fixture: a whole telering pipeline (web node + worker processes) on the session broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
