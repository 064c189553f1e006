"""The web-node benchmark serves both read routes under load while ingesting (tiny run; speed
never asserted).

Needs: the session's real Apache Kafka broker; the benchmark starts its own web node (SQLite file
in `tmp_path`), worker and simulator processes, and stops them.
"""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import webnode

pytestmark = pytest.mark.kafka


TINY = ["--seconds", "2", "--concurrency", "4", "--preload", "500", "--sensors", "10", "--ingest-rate", "100"]
TINY += ["--partitions", "2", "--history-sensors", "3", "--history-hours", "1", "--history-period", "5"]
TINY += ["--stats-since", "3000", "--stats-bucket", "120", "--baseline-repeats", "3", "--rollup-cost-readings", "2000"]


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_webnode_benchmark_writes_its_figures(kafka_broker, tmp_path, database):
    out, png = tmp_path / "webnode.json", tmp_path / "webnode.png"
    argv = ["--bootstrap", kafka_broker.bootstrap, "--workdir", str(tmp_path / "work"), "--database", database]
    assert webnode.main([*argv, *TINY, "--json", str(out), "--plot", str(png)]) == 0
    figures = json.loads(out.read_text())
    assert figures["database"] == database
    assert set(figures["routes"]) == {"latest", "stats", "stats_1h", "revalidate"}
    assert figures["routes"]["revalidate"]["statuses"].keys() <= {"200", "304"}
    assert figures["ingest"]["batch_store_p99_ms"] > 0
    for route in figures["routes"].values():
        assert route["requests"] > 0 and route["requests_per_s"] > 0
        assert route["non_2xx"] == 0 and route["status_5xx"] == 0 and route["client_errors"] == 0
        assert route["p99_ms"] >= route["p50_ms"] > 0
    ingest = figures["ingest"]
    assert ingest["preloaded"] == 500 and ingest["history"] == 3 * 720
    assert ingest["sent"] > ingest["preloaded"] + ingest["history"]
    assert ingest["sent"] == ingest["stored"] and ingest["lost"] == 0 and ingest["duplicated"] == 0
    baseline = figures["stats_baseline"]
    asked = figures["stats_query"]
    buckets = math.ceil(asked["until"] / 120) - math.floor(asked["since"] / 120)  # 3000 s, ragged ends
    assert baseline["same_answer"] and baseline["points"] == 3 * buckets
    assert baseline["raw_p50_ms"] > 0 and baseline["rollups_p50_ms"] > 0 and baseline["speedup_p50"] > 0
    cost = figures["rollup_cost"]
    assert cost["with_rollups_cpu_us_per_reading"] > 0 and cost["without_rollups_cpu_us_per_reading"] > 0
    assert png.stat().st_size > 0
