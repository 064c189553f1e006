"""The token-ring benchmark runs for two ring sizes and reports sane figures (tiny run; speed
never asserted).

Needs: the session's real Apache Kafka broker; the benchmark starts its own web node (SQLite file
in `tmp_path`), worker and simulator processes per ring size, and stops them.
"""

from __future__ import annotations

import json

import pytest

from benchmarks import token_ring
from protocol.partitioning import partition_for
from simulator.messages import sensor_ids

pytestmark = pytest.mark.kafka


def test_token_ring_benchmark_writes_its_figures_and_plot(kafka_broker, tmp_path):
    out, png = tmp_path / "ring.json", tmp_path / "ring.png"
    assert (
        token_ring.main(
            [
                "--bootstrap",
                kafka_broker.bootstrap,
                "--workdir",
                str(tmp_path / "work"),
                "--receivers",
                "1,3",
                "--rate",
                "300",
                "--seconds",
                "3",
                "--warmup",
                "1",
                "--sensors",
                "10",
                "--json",
                str(out),
                "--plot",
                str(png),
            ]
        )
        == 0
    )
    figures = json.loads(out.read_text())
    assert [run["receivers"] for run in figures["runs"]] == [1, 3]
    for run in figures["runs"]:
        assert run["sent"] == run["stored"] > 0 and run["lost"] == 0 and run["duplicated"] == 0
        assert run["turns"] > 0 and run["receivers_seen"] == run["receivers"]
        assert run["cycle_p50_ms"] is not None and run["cycle_p99_ms"] >= run["cycle_p50_ms"]
        assert run["ring_period_p50_ms"] is not None and run["readings_per_flush_mean"] > 0
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert png.stat().st_size > 0


@pytest.mark.parametrize("partitions", [1, 7, 50])
def test_covering_sensors_puts_readings_on_every_partition(partitions):
    n = token_ring.covering_sensors(partitions, minimum=2 * partitions)
    assert n >= 2 * partitions
    ids = sensor_ids(token_ring.SENSOR_PREFIX, n)
    assert {partition_for(s, partitions) for s in ids} == set(range(partitions))
