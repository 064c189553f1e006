"""`python -m benchmarks.alerts`, briefly: both runs store every reading, the rules record
transitions, the latency is measured through a real web node, and the JSON is written."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import alerts


def test_a_short_run_reports_every_figure(tmp_path: Path):
    out = tmp_path / "alerts.json"
    argv = [
        "--seconds",
        "2",
        "--rate",
        "1000",
        "--batch",
        "500",
        "--sensors",
        "10",
        "--trials",
        "6",
        "--json",
        str(out),
    ]
    assert alerts.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["without_alerting"]["readings"] == report["with_rules"]["readings"] == 2000
    assert report["without_alerting"]["transitions"] == 0 and report["with_rules"]["transitions"] > 0
    assert report["with_rules"]["rules"] == 20
    assert report["transition_latency"]["trials"] == 6 and report["transition_latency"]["p99_ms"] > 0
    assert "added_cpu_us_per_reading" in report


def test_the_rules_parse():
    ruleset = alerts.parse_rules(alerts.rules_text(20))
    assert len(ruleset.rules) == 20 and {r.quantity for r in ruleset.rules} == {
        "temperature",
        "humidity",
        "pressure",
        "battery",
    }
