"""The web-node benchmark serves both read routes under load while ingesting (tiny run; speed
never asserted).

Needs: the session's real Apache Kafka broker; the benchmark starts its own web node (SQLite file
in `tmp_path`), worker and simulator processes, and stops them.
"""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import history, webnode

pytestmark = pytest.mark.kafka


TINY = ["--seconds", "2", "--concurrency", "4", "--preload", "500", "--sensors", "10", "--ingest-rate", "100"]
TINY += ["--partitions", "2", "--history-sensors", "3", "--history-hours", "1", "--history-period", "5"]
TINY += ["--stats-since", "3000", "--stats-bucket", "120", "--baseline-repeats", "3", "--rollup-cost-readings", "2000"]
TINY += ["--live-clients", "2"]


@pytest.mark.parametrize(
    ("database", "processes"), [("sqlite", "1,2"), pytest.param("postgresql", "2", marks=pytest.mark.postgres)]
)
def test_webnode_benchmark_writes_its_figures(kafka_broker, tmp_path, database, processes):
    out, png = tmp_path / "webnode.json", tmp_path / "webnode.png"
    argv = ["--bootstrap", kafka_broker.bootstrap, "--workdir", str(tmp_path / "work"), "--database", database]
    assert webnode.main([*argv, *TINY, "--processes", processes, "--json", str(out), "--plot", str(png)]) == 0
    results = json.loads(out.read_text())
    assert results["database"] == database
    runs = results["runs"]
    assert [run["web_node_processes"] for run in runs] == [int(p) for p in processes.split(",")]
    assert results["versus_baseline"][0] == dict.fromkeys(runs[0]["routes"], 1.0)
    for run in runs:
        check_run(run)
    check_stats_and_cost(results)
    assert png.stat().st_size > 0


def check_run(figures: dict) -> None:
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
    cpu = figures["cpu_during_load"]
    assert cpu["machine"] > 0 and cpu["web_node"] > 0 and cpu["clients"] > 0 and cpu["cores"] >= 1
    live = figures["live"]
    assert sum(live["clients_by_process"].values()) == live["clients"] == 2
    assert len(live["clients_by_process"]) == figures["web_node_processes"]
    assert live["frames"] > 0 and live["closed_early"] == []
    assert live["missed"] == 0 and live["repeated"] == 0 and live["out_of_order"] == 0
    assert live["delay_max_ms"] >= live["delay_p99_ms"] >= live["delay_p50_ms"] >= 0


def check_stats_and_cost(results: dict) -> None:
    baseline = results["stats_baseline"]
    asked = results["runs"][-1]["stats_query"]
    # every (sensor, bucket) of the range that holds a stored history reading is a point; a ragged
    # end bucket a few seconds wide may hold none (the history ends up to one period before `until`)
    stored = [(r["sensor_id"], r["ts"].timestamp()) for r in history.history_rows("abc", 1, 5, asked["until"])]
    held = {(sensor, math.floor(ts / 120)) for sensor, ts in stored if asked["since"] <= ts < asked["until"]}
    assert baseline["same_answer"] and baseline["points"] == len(held) >= 3 * 25
    assert baseline["raw_p50_ms"] > 0 and baseline["rollups_p50_ms"] > 0 and baseline["speedup_p50"] > 0
    cost = results["rollup_cost"]
    assert cost["with_rollups_cpu_us_per_reading"] > 0 and cost["without_rollups_cpu_us_per_reading"] > 0
