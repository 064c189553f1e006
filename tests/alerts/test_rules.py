"""The rules file: its shape, and errors that name the file, the line and the reason."""

from __future__ import annotations

import pytest

from web_node.alerts.rules import RulesError, load_rules, parse_rules

GOOD = """\
rules:
  - name: boiler-hot          # a comment
    sensors: ["boiler-*"]
    severity: critical
    quantity: temperature
    above: 80
    clear: 75
    for: 2m
    summary: "{sensor_id} at {value} (limit {threshold})"
  - name: battery.low
    severity: warning
    quantity: battery
    below: 10
  - name: sensor-silent
    severity: warning
    silent_for: 5m
"""


def test_the_issues_example_parses():
    rules = parse_rules(GOOD).rules
    hot, low, silent = rules
    assert (hot.name, hot.sensors, hot.above, hot.threshold, hot.clear, hot.for_s) == (
        "boiler-hot",
        ("boiler-*",),
        True,
        80.0,
        75.0,
        120.0,
    )
    assert (low.above, low.threshold, low.clear, low.for_s, low.sensors) == (False, 10.0, 10.0, 0.0, None)
    assert silent.silent and silent.silent_for == 300.0
    assert hot.as_json() == {
        "name": "boiler-hot",
        "sensors": ["boiler-*"],
        "severity": "critical",
        "quantity": "temperature",
        "above": 80.0,
        "below": None,
        "clear": 75.0,
        "for": 120.0,
        "summary": hot.summary,
    }


def test_which_rules_cover_a_sensor():
    ruleset = parse_rules(GOOD)
    assert [r.name for r in ruleset.threshold_rules("boiler-7")] == ["boiler-hot", "battery.low"]
    assert [r.name for r in ruleset.threshold_rules("fridge")] == ["battery.low"]
    assert [r.name for r in ruleset.silent_rules("fridge")] == ["sensor-silent"]


BAD = [
    ("rules: [", 1, "not valid YAML"),
    ("other: 1\n", 1, "one key, `rules`"),
    ("rules:\n  - name: a b\n    severity: info\n    quantity: temperature\n    above: 1\n", 2, "name 'a b'"),
    ("rules:\n  - name: a\n    severity: loud\n    quantity: temperature\n    above: 1\n", 3, "severity 'loud'"),
    ("rules:\n  - name: a\n    severity: info\n    quantity: speed\n    above: 1\n", 4, "quantity 'speed'"),
    ("rules:\n  - name: a\n    severity: info\n    quantity: temperature\n", 2, "exactly one of"),
    (
        "rules:\n  - name: a\n    severity: info\n    quantity: temperature\n    above: 1\n    below: 0\n",
        2,
        "exactly one of",
    ),
    (
        "rules:\n  - name: a\n    severity: info\n    quantity: temperature\n    above: 80\n    clear: 85\n",
        6,
        "clear 85.0",
    ),
    ("rules:\n  - name: a\n    severity: info\n    quantity: temperature\n    above: 8\n    for: soon\n", 6, "for:"),
    ("rules:\n  - name: a\n    severity: info\n    quantity: temperature\n    above: x\n", 5, "finite number"),
    ("rules:\n  - name: a\n    severity: info\n    silent_for: 5m\n    above: 3\n", 5, "unknown field 'above'"),
    (
        "rules:\n  - name: a\n    severity: info\n    silent_for: 5m\n"
        "  - name: a\n    severity: info\n    silent_for: 1m\n",
        5,
        "used twice",
    ),
    ("rules:\n  - name: a\n    severity: info\n    silent_for: 5m\n    summary: '{nope}'\n", 5, "summary"),
    ("rules:\n  - name: a\n    sensors: []\n    severity: info\n    silent_for: 5m\n", 3, "sensors"),
    ("rules:\n  - name: a\n    name: b\n    severity: info\n    silent_for: 5m\n", 3, "duplicate key"),
]


@pytest.mark.parametrize(("text", "line", "reason"), BAD)
def test_bad_files_name_the_line_and_the_reason(text, line, reason):
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "alerts.yaml")
    assert caught.value.line == line and reason in caught.value.reason
    assert str(caught.value).startswith(f"alerts.yaml, line {line}: ")


def test_a_missing_file_names_it(tmp_path):
    with pytest.raises(RulesError, match=r"nowhere\.yaml"):
        load_rules(tmp_path / "nowhere.yaml")
