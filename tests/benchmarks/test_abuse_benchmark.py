"""`python -m benchmarks.abuse`, briefly: a real web node on a small SQLite history answers the
three attacks and the figures are written (their values, times above all, are never asserted).

Needs no broker: the benchmark starts its own web node (SQLite file in `tmp_path`) and stops it.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import abuse

TINY = ["--rows", "2000", "--days", "1", "--sensors", "2", "--parallel", "2", "--sockets", "25"]
TINY += ["--batch", "100", "--clients", "2", "--seconds", "0.5"]


def test_a_short_run_reports_every_figure(tmp_path: Path):
    out = tmp_path / "abuse.json"
    assert abuse.main([*TINY, "--workdir", str(tmp_path / "work"), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["rows"] == 2000 and report["web_processes"] >= 1
    assert set(report["stats"]) == {"bucket_86399", "bucket_61", "bucket_86400"}
    for runs in report["stats"].values():
        assert [len(runs[k]["answers"]) for k in ("at_once_1", "at_once_2")] == [1, 2]
        for run in runs.values():
            assert all(a["status"] in (200, 400, 503) and a["seconds"] >= 0 for a in run["answers"])  # 3 decimals
            assert isinstance(run["rss_growth_mb"], float)
    live = report["live"]
    assert sum(live["statuses"].values()) == 25 and set(live["statuses"]) <= {"101", "429"}
    assert live["batch_cpu_s_with_sockets"] >= 0 and live["batch_cpu_s_no_sockets"] >= 0
    healthz = report["healthz"]
    assert sum(healthz["statuses"].values()) > 0 and healthz["log_lines"] >= 0 and healthz["log_bytes"] >= 0
