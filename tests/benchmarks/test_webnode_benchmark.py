"""The web-node benchmark serves both read routes under load while ingesting (tiny run; speed
never asserted).

Needs: the session's real Apache Kafka broker; the benchmark starts its own web node (SQLite file
in `tmp_path`), worker and simulator processes, and stops them.
"""

from __future__ import annotations

import json

import pytest

from benchmarks import webnode

pytestmark = pytest.mark.kafka


def test_webnode_benchmark_writes_its_figures(kafka_broker, tmp_path):
    out, png = tmp_path / "webnode.json", tmp_path / "webnode.png"
    assert (
        webnode.main(
            [
                "--bootstrap",
                kafka_broker.bootstrap,
                "--workdir",
                str(tmp_path / "work"),
                "--seconds",
                "2",
                "--concurrency",
                "3",
                "--preload",
                "500",
                "--sensors",
                "10",
                "--ingest-rate",
                "100",
                "--partitions",
                "2",
                "--json",
                str(out),
                "--plot",
                str(png),
            ]
        )
        == 0
    )
    figures = json.loads(out.read_text())
    assert set(figures["routes"]) == {"latest", "stats"}
    for route in figures["routes"].values():
        assert route["requests"] > 0 and route["requests_per_s"] > 0
        assert route["non_2xx"] == 0 and route["status_5xx"] == 0 and route["client_errors"] == 0
        assert route["p99_ms"] >= route["p50_ms"] > 0
    ingest = figures["ingest"]
    assert ingest["preloaded"] == 500 and ingest["sent"] > ingest["preloaded"]
    assert ingest["sent"] == ingest["stored"] and ingest["lost"] == 0 and ingest["duplicated"] == 0
    assert png.stat().st_size > 0
