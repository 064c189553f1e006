"""Alerts in the window, driven through a fake data source (pytest-qt, offscreen, no server):
the list with its colours, the rules' lines on the plots of the sensors they cover, the markers."""

from __future__ import annotations

import time

import pytest
from PyQt5.QtCore import Qt

from desktop_client import theme
from desktop_client.alert_records import AlertSnapshot, parse_alerts, parse_rules, parse_transition
from desktop_client.alerts_panel import since_text
from desktop_client.records import Sample
from tests.desktop_client.alert_json import alert, silent_rule, threshold_rule, transition

pytestmark = pytest.mark.gui

NOW = time.time()


@pytest.fixture(autouse=True)
def _now_is_this_test_s() -> None:
    """NOW is when each test starts, not when the module was imported: the window follows the real
    clock, and in a long suite readings stamped at import time are out of its view by then."""
    global NOW
    NOW = time.time()


def readings(*sensors: str, temperature: float = 70.0) -> list[Sample]:
    return [Sample(s, i, NOW - 30 + i, (temperature + i, 45.0, 1013.0, 80.0)) for s in sensors for i in range(10)]


def snapshot(generation=0, rules=(), alerts=(), transitions=(), enabled=True) -> AlertSnapshot:
    return AlertSnapshot(
        generation,
        enabled,
        parse_rules({"rules": list(rules)}),
        parse_alerts({"alerts": list(alerts)}),
        [parse_transition(t) for t in transitions],
    )


def row_style(window, rule: str, sensor: str) -> tuple[str, bool]:
    """(foreground colour, italic) of an alert's row in the list."""
    tree = window.alerts_panel.tree
    for i in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(i)
        if (item.text(0), item.text(1)) == (rule, sensor):
            return item.foreground(0).color().name(), item.font(0).italic()
    raise AssertionError(f"no row for {rule}/{sensor}: {window.alerts_panel.rows()}")


def test_the_list_shows_pending_and_firing_alerts_in_severity_colours(fake_window):
    window, source = fake_window()
    source.alerts_loaded.emit(
        snapshot(
            alerts=[
                alert("humid", "s2", "pending", NOW - 10, severity="info", value=71.5),
                alert("hot", "s1", "firing", NOW - 60),
                alert("silent", "s3", "firing", NOW - 30, severity="warning", value=None),
                alert("cold", "s4", "pending", NOW - 5, severity="critical", value=-3.0),
            ]
        )
    )
    rows = window.alerts_panel.rows()
    # firing first, the most severe first; then pending
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("hot", "s1", "firing", "81"),
        ("silent", "s3", "firing", "–"),
        ("cold", "s4", "pending", "-3"),
        ("humid", "s2", "pending", "71.5"),
    ]
    assert rows[0][4] == since_text(NOW - 60, time.time())
    assert row_style(window, "hot", "s1") == (theme.SEVERITY_COLOURS["critical"], False)
    assert row_style(window, "silent", "s3") == (theme.SEVERITY_COLOURS["warning"], False)
    red, amber, blue = (theme.SEVERITY_COLOURS[s] for s in ("critical", "warning", "info"))
    assert (red, amber, blue) == ("#ff5c5c", "#f2b33d", "#4e9af1")
    pending_red, italic = row_style(window, "cold", "s4")
    assert italic and pending_red == theme.alert_colour("critical", "pending").name() != red
    assert row_style(window, "humid", "s2") == (theme.alert_colour("info", "pending").name(), True)
    assert window.alerts_panel.title() == "Alerts: 2 firing, 2 pending"


def test_live_transitions_add_update_and_remove_rows(fake_window):
    window, source = fake_window()
    source.alerts_loaded.emit(snapshot(rules=[threshold_rule("hot", **{"for": 60.0})]))
    assert window.alerts_panel.rows() == [] and window.alerts_panel.title() == "Alerts: 0 firing, 0 pending"

    source.alert_arrived.emit(parse_transition(transition("hot", "s1", "ok", "pending", NOW - 70, value=80.5)))
    assert [r[:4] for r in window.alerts_panel.rows()] == [("hot", "s1", "pending", "80.5")]
    assert row_style(window, "hot", "s1")[1]  # italic while pending
    source.alert_arrived.emit(parse_transition(transition("hot", "s1", "pending", "firing", NOW - 5, value=82.0)))
    assert [r[:4] for r in window.alerts_panel.rows()] == [("hot", "s1", "firing", "82")]
    assert row_style(window, "hot", "s1") == (theme.SEVERITY_COLOURS["critical"], False)
    source.alert_arrived.emit(parse_transition(transition("hot", "s1", "firing", "ok", NOW - 1, value=74.0)))
    assert window.alerts_panel.rows() == [] and window.alerts_panel.title() == "Alerts: 0 firing, 0 pending"


def test_a_web_node_without_alerting_shows_no_alerts(fake_window):
    window, source = fake_window()
    source.alerts_loaded.emit(snapshot(alerts=[alert("hot", "s1", "firing", NOW)], rules=[threshold_rule("hot")]))
    source.alerts_loaded.emit(snapshot(enabled=False))
    assert window.alerts_panel.rows() == [] and window.alerts_panel.title() == "Alerts: off on this web node"
    assert not window.panel.alert_marks.lines
    source.alerts_loaded.emit(snapshot())
    assert window.alerts_panel.title() == "Alerts: no rules in force"


def test_a_snapshot_for_a_window_left_already_is_ignored(fake_window):
    window, source = fake_window(window="1m")
    window.set_window("1h")  # generation 1
    source.alerts_loaded.emit(snapshot(generation=0, alerts=[alert("hot", "old", "firing", NOW)]))
    assert window.alerts_panel.rows() == []
    source.alerts_loaded.emit(snapshot(generation=1, alerts=[alert("hot", "new", "firing", NOW)]))
    assert [r[1] for r in window.alerts_panel.rows()] == ["new"]


def visible_lines(window, quantity: str) -> list[tuple[float, str]]:
    marks = window.panel.alert_marks
    return sorted(
        (line.value(), line.label.toPlainText())
        for name, lines in marks.lines.items()
        for line in lines
        if line.isVisible() and marks.rules[name].quantity == quantity
    )


def test_rule_lines_appear_on_their_plot_for_covered_sensors_only(fake_window):
    window, source = fake_window()
    source.readings_arrived.emit(readings("boiler-1", "roof-1"))
    source.alerts_loaded.emit(
        snapshot(
            rules=[
                threshold_rule("boiler-hot", sensors=["boiler-*"], clear=75.0),
                threshold_rule("lab-hot", sensors=["lab-?"], above=60.0),
                threshold_rule("battery-low", "battery", above=None, below=15.0, severity="warning"),
                silent_rule("silent"),
            ]
        )
    )
    window.redraw()
    assert visible_lines(window, "temperature") == [(75.0, "boiler-hot clears ≤ 75"), (80.0, "boiler-hot > 80")]
    assert visible_lines(window, "battery") == [(15.0, "battery-low < 15")]
    assert visible_lines(window, "humidity") == visible_lines(window, "pressure") == []
    line = next(ln for ln in window.panel.alert_marks.lines["boiler-hot"] if ln.value() == 80.0)
    assert line.pen.color().name() == theme.SEVERITY_COLOURS["critical"] and line.pen.style() == Qt.DashLine
    assert line in window.panel.plots["temperature"].items
    low, high = window.panel.plots["temperature"].getViewBox().viewRange()[1]
    assert low < 70.0 and high > 80.0  # the limit is inside the y range with the readings

    window.set_sensor_visible("boiler-1", False)
    window.redraw()
    assert visible_lines(window, "temperature") == []  # roof-1 is not a boiler
    assert visible_lines(window, "battery") == [(15.0, "battery-low < 15")]  # it covers every sensor

    source.readings_arrived.emit(readings("lab-3"))
    window.redraw()
    assert visible_lines(window, "temperature") == [(60.0, "lab-hot > 60")]


def test_markers_at_transitions_from_history_and_live(fake_window):
    window, source = fake_window()
    source.readings_arrived.emit(readings("s1", "s2"))
    history = [
        transition("hot", "s1", "ok", "pending", NOW - 25, value=80.5),
        transition("hot", "s1", "pending", "firing", NOW - 20, value=81.0),
        transition("hot", "s2", "ok", "firing", NOW - 15, value=90.0),
        transition("silent", "s1", "ok", "firing", NOW - 12, value=None, severity="warning"),
        transition("gone", "s1", "ok", "firing", NOW - 11, value=85.0),  # a rule no longer in force
    ]
    rules = [threshold_rule("hot", **{"for": 5.0}), silent_rule("silent")]
    source.alerts_loaded.emit(snapshot(rules=rules, transitions=history))
    window.redraw()
    marks = window.panel.alert_marks
    assert sorted(marks.marker_points("temperature")) == sorted(
        [(pytest.approx(NOW - 25, abs=1e-5), 80.5, "pending"),
         (pytest.approx(NOW - 20, abs=1e-5), 81.0, "firing"),
         (pytest.approx(NOW - 15, abs=1e-5), 90.0, "firing")],
        key=lambda p: p[1],
    )  # fmt: skip
    assert all(marks.marker_points(q) == [] for q in ("humidity", "pressure", "battery"))
    colours = {p.data().to_state: p.brush().color().name() for p in marks.markers["temperature"].points()}
    assert colours == {"pending": theme.STATE_COLOURS["pending"], "firing": theme.STATE_COLOURS["firing"]}

    resolved = transition("hot", "s1", "firing", "ok", NOW - 2, value=74.0)
    source.alert_arrived.emit(parse_transition(resolved))
    source.alert_arrived.emit(parse_transition(resolved))  # the same transition twice: one marker
    ok_points = [p for p in marks.marker_points("temperature") if p[2] == "ok"]
    assert ok_points == [(pytest.approx(NOW - 2, abs=1e-5), 74.0, "ok")]
    ok_spot = next(p for p in marks.markers["temperature"].points() if p.data().to_state == "ok")
    assert ok_spot.brush().color().name() == theme.STATE_COLOURS["ok"]
    tip = marks.markers["temperature"].opts["tip"](x=ok_spot.pos().x(), y=ok_spot.pos().y(), data=ok_spot.data())
    assert tip == "hot · s1: firing → ok at 74\ns1 at 74.0"  # what hovering the marker shows

    window.set_sensor_visible("s1", False)
    window.redraw()
    assert [p[1] for p in marks.marker_points("temperature")] == [90.0]  # only s2's

    source.alerts_loaded.emit(snapshot(rules=rules, transitions=[]))  # a new window's history replaces the old
    assert marks.marker_points("temperature") == []
