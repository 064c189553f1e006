"""The pipeline benchmark runs end to end and reports sane figures (tiny run; speed never asserted).

Needs: the session's real Apache Kafka broker; the benchmark starts its own web node (SQLite file
in `tmp_path`), worker and simulator processes, and stops them.
"""

from __future__ import annotations

import json

import pytest

from benchmarks import pipeline

pytestmark = pytest.mark.kafka


def test_pipeline_benchmark_writes_its_figures(kafka_broker, tmp_path):
    out = tmp_path / "pipeline.json"
    assert (
        pipeline.main(
            [
                "--bootstrap",
                kafka_broker.bootstrap,
                "--workdir",
                str(tmp_path / "work"),
                "--skip-baselines",
                "--partitions",
                "2",
                "--readings",
                "2000",
                "--sensors",
                "20",
                "--producers",
                "1",
                "--rate",
                "300",
                "--seconds",
                "3",
                "--warmup",
                "1",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    figures = json.loads(out.read_text())
    drain, at_rate = figures["drain"]["telering"], figures["rate"]
    assert figures["drain"]["readings"] == 2000
    assert drain["sent"] == drain["stored"] == 2000 and drain["readings_per_s"] > 0
    assert at_rate["sent"] == at_rate["stored"] > 0
    assert at_rate["p50_latency_ms"] is not None and at_rate["p99_latency_ms"] >= at_rate["p50_latency_ms"]
    assert at_rate["ring"]["turns"] > 0 and at_rate["ring"]["receivers_seen"] == 2
    assert figures["lost"] == 0 and figures["duplicated"] == 0


def test_secure_pipeline_benchmark_compares_with_plaintext(tmp_path):
    """`--secure` starts its own SASL_SSL broker: the same drain over PLAINTEXT and over
    SASL_SSL + HTTPS + reader tokens, both exact, and their ratios."""
    out = tmp_path / "secure.json"
    argv = ["--secure", "--workdir", str(tmp_path / "work"), "--partitions", "2", "--readings", "1500"]
    assert pipeline.main([*argv, "--sensors", "10", "--producers", "1", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())["secure"]
    for name in ("plaintext", "secure"):
        assert figures[name]["lost"] == figures[name]["duplicated"] == 0
        assert figures[name]["readings_per_s"] > 0
        # a tiny drain may fit between two CPU samples (0 µs): reported, not judged
        assert figures[name]["worker_cpu_us_per_reading"] >= 0 and figures[name]["web_cpu_us_per_reading"] >= 0
    assert figures["throughput_ratio"] > 0


@pytest.mark.postgres
def test_pipeline_benchmark_on_postgresql(kafka_broker, tmp_path):
    """`--database postgresql`: the drain into a throwaway PostgreSQL cluster, exact."""
    out = tmp_path / "pipeline-pg.json"
    argv = ["--bootstrap", kafka_broker.bootstrap, "--workdir", str(tmp_path / "work"), "--database", "postgresql"]
    argv += ["--skip-baselines", "--phases", "drain", "--partitions", "2", "--readings", "3000", "--sensors", "20"]
    assert pipeline.main([*argv, "--producers", "1", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    drain = figures["drain"]["telering"]
    assert figures["database"] == "postgresql" and figures["drain"]["readings"] == 3000
    assert drain["sent"] == drain["stored"] == 3000 and drain["readings_per_s"] > 0
    assert figures["lost"] == 0 and figures["duplicated"] == 0
