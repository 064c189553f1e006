"""The alerting JSON (rules, current alerts, history pages, live transitions) read into records — no Qt."""

from __future__ import annotations

import json
import time

import pytest

from desktop_client.alert_records import parse_alerts, parse_history, parse_rules, parse_transition
from desktop_client.records import WireError
from protocol.readings import rfc3339
from tests.desktop_client.alert_json import alert, silent_rule, threshold_rule, transition


def test_threshold_and_silent_rules():
    rules = parse_rules(
        {
            "rules": [
                threshold_rule("boiler-hot", sensors=["boiler-*", "tank"], clear=75.0, **{"for": 120.0}),
                threshold_rule("battery-low", "battery", above=None, below=10.0, severity="warning"),
                silent_rule("sensor-silent", silent_for="5m"),
            ]
        }
    )
    hot, low, silent = rules
    assert (hot.quantity, hot.threshold, hot.clears_at, hot.for_s) == ("temperature", 80.0, 75.0, 120.0)
    assert hot.covers("boiler-2") and hot.covers("tank") and not hot.covers("tank-2") and not hot.covers("roof")
    assert (low.below, low.threshold, low.clears_at, low.severity) == (10.0, 10.0, 10.0, "warning")
    assert low.covers("anything")  # sensors null: every sensor
    assert (silent.threshold, silent.silent_for, silent.quantity) == (None, 300.0, None)


def test_a_rule_the_client_cannot_read_is_left_out_not_the_others(caplog):
    rules = parse_rules(
        {
            "rules": [
                threshold_rule("both", below=5.0),  # above and below
                threshold_rule("nan", above=float("nan")),
                {"name": "rate-of-change", "severity": "info", "quantity": "pressure", "rate": 3},
                threshold_rule("good"),
            ]
        }
    )
    assert [r.name for r in rules] == ["good"]
    assert "both" in caplog.text and "rate-of-change" in caplog.text


@pytest.mark.parametrize("body", [{}, {"rules": "boiler"}, {"rules": [1]}])
def test_a_rules_answer_of_the_wrong_shape_is_refused(body):
    with pytest.raises(WireError, match="/alerts/rules"):
        parse_rules(body)


def test_current_alerts():
    now = time.time()
    [firing, pending] = parse_alerts(
        {"alerts": [alert("hot", "s1", "firing", now - 60), alert("silent", "s2", "pending", now, value=None)]}
    )
    assert (firing.key, firing.state, firing.value) == (("hot", "s1"), "firing", 81.0)
    assert firing.since == pytest.approx(now - 60, abs=1e-5)
    assert (pending.state, pending.value) == ("pending", None)


@pytest.mark.parametrize(
    "change",
    [{"state": "ok"}, {"severity": "fatal"}, {"since": "yesterday"}, {"sensor_id": "bad id"}, {"value": "hot"}],
)
def test_a_bad_alert_is_refused_with_its_field(change):
    body = {"alerts": [alert("hot", "s1", "firing", time.time()) | change]}
    with pytest.raises(WireError, match=next(iter(change))):
        parse_alerts(body)


def test_history_page_and_live_message():
    now = time.time()
    items = [transition("hot", "s1", "pending", "firing", now - 5), transition("hot", "s1", "ok", "pending", now - 9)]
    page, next_until = parse_history({"transitions": items, "next_until": rfc3339(now - 9)})
    assert [(t.from_state, t.to_state) for t in page] == [("pending", "firing"), ("ok", "pending")]
    assert next_until == pytest.approx(now - 9, abs=1e-5)
    assert parse_history({"transitions": [], "next_until": None}) == ([], None)

    live = parse_transition(json.dumps(items[0]))
    assert live == page[0] and live.id == items[0]["id"]
    assert live.as_alert().state == "firing" and live.as_alert().since == live.ts
    resolved = parse_transition(transition("hot", "s1", "firing", "ok", now) | {"id": 17})
    assert resolved.id == "17" and resolved.as_alert() is None


@pytest.mark.parametrize(
    "change", [{"to": "burning"}, {"ts": None}, {"id": None}, {"value": float("inf")}, {"from": None}]
)
def test_a_bad_transition_is_refused(change):
    raw = transition("hot", "s1", "ok", "firing", time.time()) | change
    with pytest.raises(WireError, match="bad transition"):
        parse_transition(raw)
    with pytest.raises(WireError):
        parse_history({"transitions": [raw], "next_until": None})
