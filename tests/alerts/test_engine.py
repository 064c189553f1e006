"""The pure engine, case by case: the issue's state machine over short series of readings."""

from __future__ import annotations

import pytest

from web_node.alerts.engine import FIRING, OK, PENDING, AlertState, group, judge
from web_node.alerts.rules import Rule, RuleSet

NOW = 2_000_000_000.0


def above(threshold: float, *, clear: float | None = None, for_s: float = 0.0, sensors=None) -> Rule:
    clear = threshold if clear is None else clear
    return Rule("hot", "critical", sensors, "temperature", True, threshold, clear, for_s)


def below(threshold: float, *, clear: float | None = None, for_s: float = 0.0) -> Rule:
    clear = threshold if clear is None else clear
    return Rule("low", "warning", None, "battery", False, threshold, clear, for_s)


def rows(values, *, sensor="s1", quantity="temperature", start=0.0, step=1.0):
    return [
        {"sensor_id": sensor, "seq": i, "ts": start + i * step, quantity: v, "temperature": v, "battery": v}
        for i, v in enumerate(values)
    ]


def run(rule: Rule, batches, *, last_ts=None):
    """Judge batches one after another, carrying states as the database would."""
    states: dict = {}
    newest: dict = dict(last_ts or {})
    seen = []
    for batch in batches:
        out = judge(RuleSet((rule,)), group(batch), states, newest, NOW)
        for st in out.states:
            states[(st.rule, st.sensor_id)] = st
        newest.update(out.sensors)
        seen += [(t.from_state, t.to_state, t.ts, t.value) for t in out.transitions]
    return seen, states


CASES = [
    # (rule, values, expected (from, to, ts) by reading index)
    ("nothing beyond", above(80), [70, 80, 79], []),
    ("strictly above", above(80), [80, 80.0001], [(OK, FIRING, 1)]),
    ("for 0 fires at once", above(80), [81], [(OK, FIRING, 0)]),
    ("firing clears at threshold", above(80), [81, 80], [(OK, FIRING, 0), (FIRING, OK, 1)]),
    ("hysteresis holds", above(80, clear=75), [81, 79, 76, 82, 75.5], [(OK, FIRING, 0)]),
    ("hysteresis clears at clear", above(80, clear=75), [81, 79, 75], [(OK, FIRING, 0), (FIRING, OK, 2)]),
    ("oscillation fires once", above(80, clear=75), [79, 81, 79, 81, 79, 81, 70], [(OK, FIRING, 1), (FIRING, OK, 6)]),
    ("pending first", above(80, for_s=2), [81], [(OK, PENDING, 0)]),
    ("pending to firing at for", above(80, for_s=2), [81, 82, 83], [(OK, PENDING, 0), (PENDING, FIRING, 2)]),
    ("pending drops to ok", above(80, for_s=2), [81, 80, 81], [(OK, PENDING, 0), (PENDING, OK, 1), (OK, PENDING, 2)]),
    ("pending ok below clear", above(80, clear=70, for_s=5), [81, 75], [(OK, PENDING, 0), (PENDING, OK, 1)]),
    ("below strictly", below(10), [10, 9.9, 10, 10.1], [(OK, FIRING, 1), (FIRING, OK, 2)]),
    ("below with clear", below(10, clear=20), [5, 15, 19.9, 20], [(OK, FIRING, 0), (FIRING, OK, 3)]),
    ("below with for", below(10, for_s=1), [5, 5, 50], [(OK, PENDING, 0), (PENDING, FIRING, 1), (FIRING, OK, 2)]),
]


@pytest.mark.parametrize(("rule", "values", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_state_machine(rule, values, expected):
    seen, _ = run(rule, [rows(values)])
    assert [(f, t, ts) for f, t, ts, _v in seen] == [(f, t, float(i)) for f, t, i in expected]


@pytest.mark.parametrize(("rule", "values", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_any_split_into_batches_gives_the_same(rule, values, expected):
    whole, _ = run(rule, [rows(values)])
    batches = [rows(values)[i : i + 1] for i in range(len(values))]
    assert run(rule, batches)[0] == whole


def test_readings_not_newer_than_the_newest_judged_change_nothing():
    rule = above(80)
    first, states = run(rule, [rows([70], start=10.0)])
    assert first == []
    late = [
        {"sensor_id": "s1", "seq": 5, "ts": 9.0, "temperature": 99.0},
        {"sensor_id": "s1", "seq": 6, "ts": 10.0, "temperature": 99.0},
    ]
    out = judge(RuleSet((rule,)), group(late), states, {"s1": 10.0}, NOW)
    assert out.transitions == [] and out.states == [] and out.sensors == {"s1": 10.0}


def test_a_batch_out_of_order_is_judged_in_ts_order():
    rule = above(80, clear=75)
    batch = rows([74, 90], start=0.0)[::-1]  # ts 1 (90) before ts 0 (74) in the batch
    seen, _ = run(rule, [batch])
    assert [(f, t, ts) for f, t, ts, _ in seen] == [(OK, FIRING, 1.0)]


def test_states_persist_across_batches_and_pending_keeps_its_start():
    rule = above(80, for_s=10)
    seen, states = run(rule, [rows([81], start=0.0), rows([82], start=5.0), rows([83], start=10.0)])
    assert [(f, t, ts) for f, t, ts, _ in seen] == [(OK, PENDING, 0.0), (PENDING, FIRING, 10.0)]
    assert states[("hot", "s1")].state == FIRING and states[("hot", "s1")].since == 10.0


def test_globs_pick_the_sensors_and_transitions_carry_the_fields():
    rule = Rule(
        "boiler-hot",
        "critical",
        ("boiler-*",),
        "temperature",
        True,
        80.0,
        75.0,
        0.0,
        summary="{sensor_id} at {value} (limit {threshold})",
    )
    batch = rows([90], sensor="boiler-1") + rows([90], sensor="fridge-1")
    out = judge(RuleSet((rule,)), group(batch), {}, {}, NOW)
    assert [t.sensor_id for t in out.transitions] == ["boiler-1"]
    body = out.transitions[0].as_json()
    assert set(body) == {
        "id",
        "rule",
        "sensor_id",
        "severity",
        "from",
        "to",
        "value",
        "threshold",
        "ts",
        "at",
        "summary",
    }
    assert body["summary"] == "boiler-1 at 90 (limit 80.0)" and body["from"] == "ok" and body["to"] == "firing"
    assert set(out.sensors) == {"boiler-1", "fridge-1"}


def test_silent_rule_resolves_at_the_next_reading():
    rule = Rule("quiet", "warning", None, silent_for=60.0)
    states = {("quiet", "s1"): AlertState("quiet", "s1", FIRING, 100.0)}
    out = judge(RuleSet((rule,)), group(rows([1, 2], start=200.0)), states, {"s1": 40.0}, NOW)
    assert [(t.from_state, t.to_state, t.ts, t.value, t.threshold) for t in out.transitions] == [
        (FIRING, OK, 201.0, None, 60.0)
    ]


def test_ids_are_unique():
    seen = judge(RuleSet((above(80),)), group(rows([81, 70] * 50)), {}, {}, NOW).transitions
    assert len({t.id for t in seen}) == len(seen) == 100
