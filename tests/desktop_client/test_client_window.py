"""MainWindow logic driven through a fake data source (pytest-qt, offscreen, no server)."""

from __future__ import annotations

import csv
import time

import numpy as np
import pytest
from PyQt5.QtCore import QRect, Qt
from PyQt5.QtGui import QFontMetrics

from desktop_client.options import plan_for
from desktop_client.records import Block, History, Sample, SensorInfo
from desktop_client.window import DEFAULT_SIZE, MINIMUM_SIZE
from protocol.readings import QUANTITIES, Measurements

pytestmark = pytest.mark.gui


def sample(sensor: str, seq: int, t: float | None = None, temperature: float = 21.0) -> Sample:
    return Sample(sensor, seq, time.time() - 1 if t is None else t, (temperature, 45.0, 1013.0, 80.0))


def test_sensors_appear_with_colour_checkbox_and_latest_values(fake_window):
    window, source = fake_window()
    source.sensors_loaded.emit(
        [SensorInfo("b", 3, time.time(), sample("b", 2, temperature=23.4)), SensorInfo("a", 1, time.time(), None)]
    )
    assert window.sensor_list.sensor_ids() == ["a", "b"]
    assert window.visible_sensors() == ["a", "b"]
    window._last_table_update = 0
    window.redraw()
    row = window.sensor_list.findItems("b", Qt.MatchExactly)[0]
    assert row.text(2) == "23.4" and not row.icon(0).isNull()


def test_live_readings_reach_the_curves(fake_window, qtbot):
    window, source = fake_window()
    source.readings_arrived.emit([sample("s1", i, t=time.time() - 10 + i, temperature=20 + i) for i in range(5)])
    qtbot.waitUntil(lambda: len(window.panel.curve_data("s1", "temperature")[1]) == 5, timeout=2000)
    assert window.panel.curve_data("s1", "temperature")[1].tolist() == [20, 21, 22, 23, 24]
    assert window.rate.total == 5


def test_unchecking_a_sensor_hides_its_curves(fake_window):
    window, source = fake_window()
    source.readings_arrived.emit([sample("s1", 0), sample("s2", 0)])
    window.sensor_list.set_checked("s1", False)
    assert not window.panel.curves[("s1", "pressure")].isVisible()
    assert window.visible_sensors() == ["s2"]
    window.check_all(True)
    assert window.panel.curves[("s1", "pressure")].isVisible()


def test_sensor_filter_ignores_other_sensors(fake_window):
    from desktop_client.options import SensorFilter

    window, source = fake_window(sensors=SensorFilter.parse("lab-*"))
    source.readings_arrived.emit([sample("lab-1", 0), sample("roof-1", 0)])
    assert list(window.series) == ["lab-1"]


def test_window_switch_asks_for_history_and_ignores_stale_answers(fake_window):
    window, source = fake_window(window="1m")
    window.set_window("24h")
    assert source.windows == [86400]
    now = time.time()
    plan = plan_for(86400)
    stale = History(0, plan_for(60), now - 60, now, [Block("old", np.array([now]), np.ones((1, 4)))])
    source.history_loaded.emit(stale)
    assert "old" not in window.series
    block = Block("s1", np.array([now - 7200, now - 3600]), np.array([[1.0] * 4, [2.0] * 4]), counts=np.array([5, 5]))
    source.history_loaded.emit(History(1, plan, now - 86400, now, [block]))
    assert window.loaded == plan and window.series["s1"].bucket_s == plan.bucket_s
    window.redraw()
    assert window.panel.curve_data("s1", "battery")[1].tolist() == [1.0, 2.0]
    low, high = window.panel.x_range()
    assert high - low == pytest.approx(86400, rel=0.01)


def test_thresholds_from_the_ui_and_from_dragging_the_line(fake_window):
    window, _ = fake_window()
    line = window.panel.thresholds["humidity"]
    assert not line.isVisible()
    window.thresholds.spins["humidity"].setValue(62.5)
    window.thresholds.boxes["humidity"].setChecked(True)
    assert line.isVisible() and line.value() == 62.5
    line.setValue(70.0)
    line.sigPositionChangeFinished.emit(line)
    assert window.thresholds.spins["humidity"].value() == 70.0
    window.thresholds.boxes["humidity"].setChecked(False)
    assert not line.isVisible()


def test_controls_and_labels_follow_the_reading_model(fake_window):
    """Threshold ranges, units and titles come from Measurements (read here through its JSON Schema)."""
    window, _ = fake_window()
    schema = Measurements.model_json_schema()["properties"]
    for column, quantity in enumerate(QUANTITIES, start=2):
        declared = schema[quantity]
        spin = window.thresholds.spins[quantity]
        assert (spin.minimum(), spin.maximum()) == (declared["minimum"], declared["maximum"])
        assert declared["minimum"] <= spin.value() <= declared["maximum"]
        assert spin.suffix() == f" {declared['description']}"
        assert window.thresholds.boxes[quantity].text() == declared["title"]
        label = window.panel.plots[quantity].getAxis("left").labelText
        assert label == f"{declared['title']} ({declared['description']})"
        assert window.sensor_list.headerItem().text(column).endswith(declared["description"])


@pytest.mark.parametrize("size", [(900, 600), MINIMUM_SIZE], ids=["900x600", "minimum"])
def test_the_window_reflows_down_to_its_minimum_size(fake_window, qtbot, size):
    """Twenty sensors, shrunk from the default size: every plot, its axis label and the side panel
    stay inside the window (the legend, which would squeeze the plots, gives way)."""
    window, source = fake_window()
    now = time.time()
    source.readings_arrived.emit(
        [sample(f"sensor-{k}", i, t=now - 100 + i, temperature=20.0 + k) for k in range(20) for i in range(50)]
    )
    window.resize(*DEFAULT_SIZE)
    qtbot.waitUntil(lambda: window.panel.legend_columns() is not None)  # wide enough for it at first
    window.resize(*size)
    viewport = window.panel.viewport()

    def inside() -> None:
        assert (window.width(), window.height()) == size
        for quantity, plot in window.panel.plots.items():
            box = window.panel.mapFromScene(plot.sceneBoundingRect()).boundingRect()
            assert viewport.rect().contains(box), (quantity, box, viewport.rect())
            assert window.rect().contains(QRect(viewport.mapTo(window, box.topLeft()), box.size()))
            label = plot.getAxis("left").labelText
            assert QFontMetrics(window.panel.font()).horizontalAdvance(label) <= plot.getViewBox().height(), label
        assert window.panel.width() >= 0.55 * window.width()  # the plots keep most of the width
        side = window.splitter.widget(0)
        assert window.rect().contains(QRect(side.mapTo(window, side.rect().topLeft()), side.size()))
        assert window.toolbar.sizeHint().width() <= window.width()  # every button shown, none in overflow

    qtbot.waitUntil(inside, timeout=5000)
    window.resize(300, 200)  # below the documented minimum: refused
    assert (window.width(), window.height()) == MINIMUM_SIZE == (window.minimumWidth(), window.minimumHeight())


def test_status_bar_follows_the_connection(fake_window):
    window, source = fake_window()
    source.state_changed.emit("reconnecting", "refused; retry in 1.0 s")
    assert window.connection_state == "reconnecting" and "reconnecting" in window.status.state.text()
    source.state_changed.emit("connected", "http://fake")
    assert window.connection_state == "connected"


def test_exports_write_what_is_shown(fake_window, tmp_path):
    window, source = fake_window(window="1m")
    now = time.time()
    source.readings_arrived.emit(
        [sample("s1", 0, t=now - 3600), sample("s1", 1, t=now - 5), sample("s2", 0, t=now - 4)]
    )
    window.sensor_list.set_checked("s2", False)
    window.redraw()
    assert window.export_csv(tmp_path / "shown.csv") == 1  # s1's hour-old point is outside the 1 min view
    rows = list(csv.DictReader((tmp_path / "shown.csv").open()))
    assert [(r["sensor_id"], r["temperature"]) for r in rows] == [("s1", "21.000")]
    png = window.export_png(tmp_path / "plots.png")
    assert png.stat().st_size > 1000


def test_closing_the_window_stops_the_source(fake_window):
    window, source = fake_window()
    window.close()
    assert source.stopped and not window.timer.isActive()
