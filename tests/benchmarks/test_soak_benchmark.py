"""The soak benchmark runs a real web node (its own process, SQLite file in `tmp_path`) under a
steady writer with a tiny raw retention, and writes its JSON and plot (a run of seconds; speed
never asserted). Needs no broker."""

from __future__ import annotations

import json

from benchmarks import soak


def test_soak_benchmark_levels_off_and_counts_every_reading(tmp_path):
    out, png = tmp_path / "soak.json", tmp_path / "soak.png"
    argv = ["--minutes", "0.4", "--retention-raw", "4s", "--retention-interval", "1s", "--rate", "200"]
    argv += ["--sensors", "5", "--sample-every", "2", "--workdir", str(tmp_path / "work")]
    assert soak.main([*argv, "--json", str(out), "--plot", str(png)]) == 0
    results = json.loads(out.read_text())
    assert results["sent"] > 0 and results["stored"] == results["sent"] and results["duplicates"] == 0
    assert results["expired"] > 0 and results["kept"] + results["expired"] == results["sent"]
    assert results["lost"] == 0 and results["retention_failures"] == 0
    samples = results["samples"]
    assert len(samples) >= 3 and max(s["expired"] for s in samples) <= results["expired"]
    # what is kept is bounded by the retention (plus a round and a sample), not by the run's length
    assert samples[-1]["raw_rows"] < results["sent"]
    assert png.stat().st_size > 0
