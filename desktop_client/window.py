"""The main window: owns the ring buffers, the curves and the redraw timer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PyQt5.QtCore import Qt, QTimer
from PyQt5.QtGui import QCloseEvent
from PyQt5.QtWidgets import QFileDialog, QHBoxLayout, QMainWindow, QPushButton, QSplitter, QVBoxLayout, QWidget

from desktop_client import export, theme
from desktop_client.alert_records import AlertSnapshot, Transition
from desktop_client.alerts_panel import AlertsPanel
from desktop_client.controls import StatusLine, ViewToolbar
from desktop_client.options import WINDOWS, ClientOptions, HistoryPlan, plan_for
from desktop_client.plots import PlotPanel
from desktop_client.rate import RateMeter
from desktop_client.records import Block, History, Sample, SensorInfo
from desktop_client.sensor_list import SensorList
from desktop_client.series import SensorSeries
from desktop_client.thresholds import ThresholdControls

log = logging.getLogger(__name__)

# The smallest window the layout is made for (docs/desktop_client.md): plots, sensor list and
# thresholds all inside it. Below the default size the side panel gives up a share of the width.
MINIMUM_SIZE = (860, 560)
DEFAULT_SIZE = (1500, 900)
SIDE_SHARE = 0.35  # of the width, for the sensor list and thresholds


class DataSource(Protocol):
    """What the window needs from the network side (NetworkWorker, or a fake in tests)."""

    sensors_loaded: Any  # signal(list[SensorInfo])
    history_loaded: Any  # signal(History)
    readings_arrived: Any  # signal(list[Sample])
    state_changed: Any  # signal(str state, str detail)
    notice: Any  # signal(str)
    alerts_loaded: Any  # signal(AlertSnapshot)
    alert_arrived: Any  # signal(Transition)

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def set_window(self, window_s: int) -> int: ...


class MainWindow(QMainWindow):
    """Sensor list, four linked plots, window selector, thresholds, status bar, exports."""

    def __init__(self, options: ClientOptions, source: DataSource, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.options = options
        self.source = source
        self.clock = clock
        self.series: dict[str, SensorSeries] = {}
        self.window_key = options.window
        self.plan: HistoryPlan = plan_for(options.window_s)
        self.requested_generation = 0
        self.loaded: HistoryPlan | None = None  # the plan of the last history shown
        self.connection_state = "connecting"
        self.rate = RateMeter()
        self.last_update: float | None = None
        self._last_table_update = 0.0

        self.setWindowTitle(f"telering — {options.url}")
        self.panel = PlotPanel()
        self.sensor_list = SensorList()
        self.thresholds = ThresholdControls()
        self.alerts_panel = AlertsPanel()
        self._build_layout()
        self._connect_signals()
        self.timer = QTimer(self)
        self.timer.setInterval(options.redraw_ms)
        self.timer.timeout.connect(self.redraw)

    # -- construction -----------------------------------------------------------------------
    def _build_layout(self) -> None:
        self.toolbar = ViewToolbar(self.window_key, self)
        self.addToolBar(self.toolbar)
        self.follow = self.toolbar.follow
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(4, 4, 4, 4)
        side_layout.addWidget(self.sensor_list, stretch=3)
        buttons = QHBoxLayout()
        for text, checked in (("All", True), ("None", False)):
            button = QPushButton(text)
            button.clicked.connect(lambda _c, on=checked: self.check_all(on))
            buttons.addWidget(button)
        side_layout.addLayout(buttons)
        side_layout.addWidget(self.alerts_panel, stretch=2)
        side_layout.addWidget(self.thresholds)
        self.splitter = splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(side)
        splitter.addWidget(self.panel)
        # a resize is shared by the two sides in these proportions (the plots' share the larger)
        splitter.setStretchFactor(0, round(100 * SIDE_SHARE))
        splitter.setStretchFactor(1, round(100 * (1 - SIDE_SHARE)))
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([round(SIDE_SHARE * DEFAULT_SIZE[0]), round((1 - SIDE_SHARE) * DEFAULT_SIZE[0])])
        self.setCentralWidget(splitter)
        self.setMinimumSize(*MINIMUM_SIZE)
        self.status = StatusLine(self.statusBar())
        self.state_detail = ""
        self._show_state("connecting", self.options.url)

    def _connect_signals(self) -> None:
        self.source.sensors_loaded.connect(self.on_sensors)
        self.source.history_loaded.connect(self.on_history)
        self.source.readings_arrived.connect(self.on_readings)
        self.source.state_changed.connect(self._show_state)
        self.source.notice.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        self.source.alerts_loaded.connect(self.on_alerts)
        self.source.alert_arrived.connect(self.on_transition)
        self.sensor_list.visibility_changed.connect(self.set_sensor_visible)
        self.panel.sensor_toggled.connect(self.set_sensor_visible)
        self.panel.manually_panned.connect(lambda: self.follow.setChecked(False))
        self.toolbar.window_chosen.connect(self.set_window)
        self.toolbar.export_png.connect(self._ask_export_png)
        self.toolbar.export_csv.connect(self._ask_export_csv)
        self.panel.threshold_moved.connect(self.thresholds.set_value)
        self.thresholds.changed.connect(self.panel.set_threshold)

    # -- life -------------------------------------------------------------------------------
    def start(self) -> None:
        self.source.start()
        self.timer.start()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.stop()
        self.source.stop()
        super().closeEvent(event)

    # -- data in ----------------------------------------------------------------------------
    def ensure_sensor(self, sensor_id: str) -> SensorSeries | None:
        if not self.options.sensors.accepts(sensor_id):
            return None
        series = self.series.get(sensor_id)
        if series is None:
            series = self.series[sensor_id] = SensorSeries(sensor_id, self.options.capacity, self.plan.bucket_s)
            colour = theme.sensor_colour(len(self.series) - 1)
            self.panel.add_sensor(sensor_id, colour)
            self.sensor_list.add_sensor(sensor_id, colour)
        return series

    def on_sensors(self, infos: list[SensorInfo]) -> None:
        for info in infos:
            series = self.ensure_sensor(info.sensor_id)
            if series is not None:
                series.note_latest(info.latest)

    def on_history(self, history: History) -> None:
        if history.generation != self.requested_generation:
            return  # an answer for a window the user has left already
        blocks = {b.sensor_id: b for b in history.blocks}
        for sensor_id in blocks:
            self.ensure_sensor(sensor_id)
        for sensor_id, series in self.series.items():
            block = blocks.get(sensor_id) or Block.empty(sensor_id)
            series.load(block, history.plan.bucket_s, history.since, history.until)
        self.loaded = history.plan
        log.info(
            "window %d s loaded: %d sensors, %d points",
            history.plan.window_s,
            len(blocks),
            sum(len(b.t) for b in blocks.values()),
        )

    def on_readings(self, samples: list[Sample]) -> None:
        for sample in samples:
            series = self.ensure_sensor(sample.sensor_id)
            if series is not None:
                series.add(sample)
        now = self.clock()
        self.rate.add(len(samples), now)
        self.last_update = now

    def on_alerts(self, snapshot: AlertSnapshot) -> None:
        if snapshot.generation != self.requested_generation:
            return  # for a window the user has left already
        self.alerts_panel.show_snapshot(snapshot)
        self.panel.alert_marks.load(snapshot.rules, snapshot.transitions)

    def on_transition(self, transition: Transition) -> None:
        self.alerts_panel.apply(transition)
        self.panel.alert_marks.add(transition)

    def _show_state(self, state: str, detail: str) -> None:
        self.connection_state, self.state_detail = state, detail
        self.status.show_state(state, detail)

    # -- user actions -----------------------------------------------------------------------
    def set_window(self, key: str) -> None:
        if key not in WINDOWS:
            raise ValueError(f"unknown window {key!r}; choose one of {', '.join(WINDOWS)}")
        self.window_key = key
        self.plan = plan_for(WINDOWS[key])
        self.toolbar.show_window(key)
        self.requested_generation = self.source.set_window(self.plan.window_s)
        self.follow.setChecked(True)
        self.redraw()

    def set_sensor_visible(self, sensor_id: str, visible: bool) -> None:
        self.sensor_list.set_checked(sensor_id, visible)
        self.panel.set_sensor_visible(sensor_id, visible)

    def check_all(self, visible: bool) -> None:
        for sensor_id in self.sensor_list.sensor_ids():
            self.set_sensor_visible(sensor_id, visible)

    def visible_sensors(self) -> list[str]:
        return [s for s in self.sensor_list.sensor_ids() if self.sensor_list.is_checked(s)]

    # -- drawing ----------------------------------------------------------------------------
    def redraw(self) -> None:
        """One frame: follow the clock, give changed series to their curves, refresh labels."""
        now = self.clock()
        following = self.follow.isChecked()
        if following:
            self.panel.set_x_range(now - self.plan.window_s, now)
        visible = self.visible_sensors()
        for sensor_id in visible:
            self.panel.show_series(self.series[sensor_id])
        self.panel.alert_marks.show_for(visible)
        if following:
            self.panel.fit_y()
        if now - self._last_table_update >= 1.0:
            self._last_table_update = now
            self.refresh_labels(now)

    def refresh_labels(self, now: float) -> None:
        """The sensor table's latest values and the status bar's rate (redraw does it once a second)."""
        for sensor_id, series in self.series.items():
            self.sensor_list.show_latest(sensor_id, series.latest, now)
        self.status.show_rate(self.rate.rate(now), self.last_update)

    # -- export -----------------------------------------------------------------------------
    def shown_rows(self) -> list[tuple[str, np.ndarray]]:
        """The points of the visible sensors inside the visible time range."""
        low, high = self.panel.x_range()
        return [(s, self.series[s].between(low, high)) for s in self.visible_sensors()]

    def export_png(self, path: Path) -> Path:
        return export.save_png(self.panel, path)

    def export_csv(self, path: Path) -> int:
        return export.write_csv(path, self.shown_rows())

    def save_screenshot(self, path: Path) -> Path:
        """The whole window as it looks now."""
        return export.save_png(self, path)

    def _ask_export_png(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export PNG", "telering.png", "PNG images (*.png)")
        if name:
            self._report_export(lambda: f"saved {self.export_png(Path(name))}")

    def _ask_export_csv(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export CSV", "telering.csv", "CSV files (*.csv)")
        if name:
            self._report_export(lambda: f"{self.export_csv(Path(name))} rows saved to {name}")

    def _report_export(self, do: Callable[[], str]) -> None:
        try:
            self.statusBar().showMessage(do(), 5000)
        except OSError as exc:
            log.error("export failed: %s", exc)
            self.statusBar().showMessage(f"export failed: {exc}", 10_000)
