"""Alerts in the dashboard end to end: a real web node process judging the readings it stores
against a real rules file.

Needs: a real web node (`python -m web_node`) on a loopback port with `TELERING_ALERT_RULES` and
a real SQLite file; readings go in only through `POST /api/v1/batches` with valid grants; the
window with its real NetworkWorker (pytest-qt, offscreen) reads rules, alerts and history from
`/api/v1/alerts*` and the transitions as they happen from `/api/v1/alerts/live`. Skipped where
the web node has no alerting at all (no `web_node.alerts`).
"""

from __future__ import annotations

from datetime import datetime
from importlib.util import find_spec

import pytest

from desktop_client import theme
from desktop_client.window import MainWindow
from tests.desktop_client.web_process import OUTPUT, PARTITIONS, WebNode, at
from tests.support.web import sensors_of_receiver

pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(find_spec("web_node.alerts") is None, reason="the web node has no alerting (web_node.alerts)"),
]

RULES = """\
rules:
  - name: boiler-hot
    sensors: ["boiler-*"]
    severity: critical
    quantity: temperature
    above: 80
    clear: 75
    summary: "{sensor_id} at {value} (limit {threshold})"
  - name: battery-low
    severity: warning
    quantity: battery
    below: 10
"""
[BOILER] = sensors_of_receiver(0, PARTITIONS, 1, prefix="boiler-")
[ROOF] = sensors_of_receiver(1, PARTITIONS, 1, prefix="roof-")


@pytest.fixture
def alerting_node(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    node = WebNode(tmp_path, TELERING_ALERT_RULES=str(rules))
    yield node.start()
    node.stop()


def unix(reading: dict) -> float:
    return datetime.fromisoformat(reading["ts"]).timestamp()


def lines_shown(window: MainWindow) -> list[str]:
    marks = window.panel.alert_marks
    return sorted(line.label.toPlainText() for lines in marks.lines.values() for line in lines if line.isVisible())


def test_rules_alerts_and_transitions_from_a_real_web_node(alerting_node, dashboard, qtbot):
    history = [
        at(50, BOILER, 0, temperature=70.0),
        at(45, BOILER, 1, temperature=85.0),  # ok -> firing
        at(40, BOILER, 2, temperature=78.0),  # still firing: it clears only at 75 or below
        at(35, BOILER, 3, temperature=74.0),  # firing -> ok
        at(30, ROOF, 0, temperature=20.0, battery=50.0),
    ]
    alerting_node.store(history)
    window = dashboard(alerting_node.url, window="10m")
    marks = window.panel.alert_marks

    expected = [(unix(history[1]), 85.0, "firing"), (unix(history[3]), 74.0, "ok")]
    qtbot.waitUntil(lambda: marks.marker_points("temperature") == [pytest.approx(p) for p in expected], timeout=20_000)
    qtbot.waitUntil(
        lambda: lines_shown(window) == ["battery-low < 10", "boiler-hot > 80", "boiler-hot clears ≤ 75"],
        timeout=5_000,
    )
    assert window.alerts_panel.rows() == [] and window.alerts_panel.title() == "Alerts: 0 firing, 0 pending"

    # live: the boiler overheats again, the roof sensor's battery runs down
    alerting_node.store([at(1, BOILER, 4, temperature=90.0), at(1, ROOF, 1, temperature=20.0, battery=5.0)])
    qtbot.waitUntil(
        lambda: (
            [r[:4] for r in window.alerts_panel.rows()]
            == [("boiler-hot", BOILER, "firing", "90"), ("battery-low", ROOF, "firing", "5")]
        ),
        timeout=15_000,
    )
    tree = window.alerts_panel.tree
    colours = [tree.topLevelItem(i).foreground(0).color().name() for i in range(2)]
    assert colours == [theme.SEVERITY_COLOURS["critical"], theme.SEVERITY_COLOURS["warning"]]
    assert window.alerts_panel.title() == "Alerts: 2 firing, 0 pending"
    assert marks.marker_points("temperature")[-1][1:] == (90.0, "firing")
    assert [p[1:] for p in marks.marker_points("battery")] == [(5.0, "firing")]
    window.save_screenshot(OUTPUT / "alerts.png")

    window.set_sensor_visible(BOILER, False)  # the boiler rule covers no shown sensor now
    qtbot.waitUntil(lambda: lines_shown(window) == ["battery-low < 10"], timeout=5_000)
    assert marks.marker_points("temperature") == []

    window.set_window("1h")  # a new window: everything loaded again, the live alerts included
    qtbot.waitUntil(lambda: window.loaded is not None and window.loaded.window_s == 3600, timeout=15_000)
    qtbot.waitUntil(lambda: len(window.alerts_panel.rows()) == 2, timeout=15_000)
    window.set_sensor_visible(BOILER, True)
    qtbot.waitUntil(lambda: [p[1] for p in marks.marker_points("temperature")] == [85.0, 74.0, 90.0], timeout=5_000)


def test_alerts_carry_on_after_a_web_node_restart(alerting_node, dashboard, qtbot):
    alerting_node.store([at(5, BOILER, 0, temperature=85.0)])
    window = dashboard(alerting_node.url, window="10m")
    qtbot.waitUntil(lambda: [r[:4] for r in window.alerts_panel.rows()] == [("boiler-hot", BOILER, "firing", "85")],
                    timeout=20_000)  # fmt: skip

    alerting_node.stop()
    qtbot.waitUntil(lambda: window.connection_state == "reconnecting", timeout=15_000)
    alerting_node.start()
    qtbot.waitUntil(lambda: window.connection_state == "connected", timeout=20_000)

    alerting_node.store([at(1, BOILER, 1, temperature=70.0)])  # firing -> ok, recorded after the restart
    qtbot.waitUntil(lambda: window.alerts_panel.rows() == [], timeout=15_000)
    qtbot.waitUntil(
        lambda: (
            [p[1:] for p in window.panel.alert_marks.marker_points("temperature")] == [(85.0, "firing"), (70.0, "ok")]
        ),
        timeout=15_000,
    )
