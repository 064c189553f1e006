"""The demo's rules file (scripts/demo-alerts.yaml) parses, and over the simulator's own signals
(the demo's 10 sensors, seed 0, 200 readings/s) one alert fires and resolves within a minute."""

from __future__ import annotations

from pathlib import Path

from simulator.signals import SensorSignal
from web_node.alerts.engine import group, judge
from web_node.alerts.rules import load_rules

DEMO_RULES = Path(__file__).resolve().parents[2] / "scripts" / "demo-alerts.yaml"


def test_one_alert_fires_and_resolves_within_a_demo_minute():
    ruleset = load_rules(DEMO_RULES)
    rows = []
    for n in range(10):
        sensor_id, signal = f"sensor-{n:03d}", SensorSignal(f"0:sensor-{n:03d}", 300.0)
        for k in range(60 * 20):
            sample = signal.sample(k / 20)
            rows.append({"sensor_id": sensor_id, "seq": k, "ts": 1000.0 + k / 20, **vars(sample)})
    transitions = judge(ruleset, group(rows), {}, {}, 0.0).transitions
    assert [(t.rule, t.from_state, t.to_state) for t in transitions] == [
        ("demo-frost", "ok", "firing"),
        ("demo-frost", "firing", "ok"),
    ]
