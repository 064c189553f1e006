"""One plot per quantity on a shared, linked date-time axis; curves per sensor; threshold lines.

Curves get only the points of the visible time range, min/max-decimated to the plot's pixel
width (our own clip-to-view and peak downsampling, done once per sensor for all four
quantities), and the y ranges are fitted from those same points. That keeps a frame cheap with
20 sensors × 10,000 points: pyqtgraph never walks the full buffers.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QColor, QFontMetrics, QResizeEvent
from PyQt5.QtWidgets import QWidget

from desktop_client import theme
from desktop_client.alert_marks import AlertMarks
from desktop_client.options import QUANTITIES, TITLES, UNITS
from desktop_client.series import SensorSeries, visible_points

RESLICE_FRACTION = 0.01  # re-clip a still series once the view moved by this share of its width
Y_PADDING = 0.08
LIMIT_LABEL_ROOM = 0.12  # of the y span, beyond an alert rule's line
LEGEND_MARGIN_PX = 40
LEGEND_MAX_ROWS = 3  # a legend that needs more rows is left out: the sensor list shows the colours too
LABEL_MARGIN_PX = 8


class SlicedCurve(pg.PlotCurveItem):
    """A curve told its data bounds with its data, so repaints never rescan the points."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._known: tuple[tuple[float, float], tuple[float, float]] | None = None

    def set_points(self, x: np.ndarray, y: np.ndarray, y_bounds: tuple[float, float]) -> None:
        self._known = ((float(x[0]), float(x[-1])), y_bounds) if len(x) else None
        self.setData(x, y)

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange: object = None):
        if self._known is None or frac < 1.0 or orthoRange is not None:
            return super().dataBounds(ax, frac, orthoRange)
        return self._known[ax]


class PlotPanel(pg.GraphicsLayoutWidget):
    """The four plots; owns their curves (sensor × quantity) and threshold lines."""

    threshold_moved = pyqtSignal(str, float)  # quantity, value dragged to
    sensor_toggled = pyqtSignal(str, bool)  # from clicks on the legend
    manually_panned = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground(theme.BACKGROUND)
        self.legend: pg.LegendItem | None = None  # in row 0 while it fits (see _fit_legend)
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[tuple[str, str], SlicedCurve] = {}
        self.thresholds: dict[str, pg.InfiniteLine] = {}
        for row, quantity in enumerate(QUANTITIES, start=1):
            self.plots[quantity] = self._make_plot(quantity, row, last=row == len(QUANTITIES))
        self._sensors: list[str] = []
        self._sliced: dict[str, tuple[int, float, float]] = {}  # sensor -> (version, x0, x1) shown
        self._bounds: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # sensor -> (mins, maxs) shown
        self._y_ranges: dict[str, tuple[float, float]] = {}
        self._legend_column_px: float | None = None
        self.alert_marks = AlertMarks(self.plots)  # alert rules' limits and transitions

    def _make_plot(self, quantity: str, row: int, last: bool) -> pg.PlotItem:
        plot = self.addPlot(row=row, col=0, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.showGrid(x=True, y=True, alpha=theme.GRID_ALPHA)
        plot.disableAutoRange()
        plot.setLabel("left", f"{TITLES[quantity]} ({UNITS[quantity]})", color=theme.FOREGROUND)
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            axis.setPen(pg.mkPen(theme.MUTED))
            axis.setTextPen(pg.mkPen(theme.FOREGROUND))
        plot.getAxis("left").setWidth(76)
        if not last:
            plot.getAxis("bottom").setStyle(showValues=False)
        if self.plots:
            plot.setXLink(next(iter(self.plots.values())))
        plot.getViewBox().sigRangeChangedManually.connect(lambda *_: self.manually_panned.emit())
        plot.getViewBox().sigResized.connect(lambda _vb, q=quantity: self._fit_label(q))
        line = pg.InfiniteLine(
            angle=0,
            movable=True,
            pen=pg.mkPen(theme.THRESHOLD, width=1.5, style=Qt.DashLine),
            label=f"{TITLES[quantity]} limit {{value:.1f}}",
            labelOpts={
                "color": theme.THRESHOLD,
                "position": 0.02,
                "anchors": [(0, 0), (0, 0)],
                "fill": pg.mkBrush(23, 25, 30, 210),
            },
        )
        line.setVisible(False)
        line.setZValue(10)  # above the curves, label included
        line.sigPositionChangeFinished.connect(lambda ln, q=quantity: self.threshold_moved.emit(q, ln.value()))
        plot.addItem(line, ignoreBounds=True)
        self.thresholds[quantity] = line
        return plot

    def add_sensor(self, sensor_id: str, colour: QColor) -> None:
        if sensor_id in self._sensors:
            return
        self._sensors.append(sensor_id)
        self._legend_column_px = None  # the new name may be the widest
        for quantity, plot in self.plots.items():
            curve = SlicedCurve(pen=pg.mkPen(colour, width=1), name=sensor_id, connect="finite")
            plot.addItem(curve)
            self.curves[(sensor_id, quantity)] = curve
        first = self.curves[(sensor_id, QUANTITIES[0])]
        first.visibleChanged.connect(lambda: self.sensor_toggled.emit(sensor_id, first.isVisible()))
        if self.legend is not None:  # rebuilt with the new sensor, if it still fits
            self.ci.removeItem(self.legend)
            self.legend = None
        self._fit_legend()

    def set_sensor_visible(self, sensor_id: str, visible: bool) -> None:
        for quantity in QUANTITIES:
            curve = self.curves.get((sensor_id, quantity))
            if curve is not None and curve.isVisible() != visible:
                curve.setVisible(visible)
        if not visible:
            self._bounds.pop(sensor_id, None)
            self._sliced.pop(sensor_id, None)

    def show_series(self, series: SensorSeries) -> bool:
        """Give a series' visible points to its curves if they or the view changed; True if so."""
        x0, x1 = self.x_range()
        done = self._sliced.get(series.sensor_id)
        moved = RESLICE_FRACTION * (x1 - x0)
        if done and done[0] == series.version and abs(done[1] - x0) < moved and abs(done[2] - x1) < moved:
            return False
        rows = visible_points(series.buffer.view(), x0, x1, max_points=self._pixel_width())
        if len(rows):
            mins, maxs = np.nanmin(rows[:, 1:], axis=0), np.nanmax(rows[:, 1:], axis=0)
            self._bounds[series.sensor_id] = (mins, maxs)
        else:
            mins = maxs = np.full(len(QUANTITIES), np.nan)
            self._bounds.pop(series.sensor_id, None)
        for i, quantity in enumerate(QUANTITIES):
            self.curves[(series.sensor_id, quantity)].set_points(
                rows[:, 0], rows[:, i + 1], (float(mins[i]), float(maxs[i]))
            )
        self._sliced[series.sensor_id] = (series.version, x0, x1)
        return True

    def fit_y(self) -> None:
        """Fit each plot's y range to the shown points, an enabled threshold line and the alert
        rules' lines shown (how near a value is to its limit is what a user looks for)."""
        if not self._bounds:
            return
        mins = np.nanmin([b[0] for b in self._bounds.values()], axis=0)
        maxs = np.nanmax([b[1] for b in self._bounds.values()], axis=0)
        for i, quantity in enumerate(QUANTITIES):
            low, high = float(mins[i]), float(maxs[i])
            line = self.thresholds[quantity]
            if line.isVisible():
                low, high = min(low, line.value()), max(high, line.value())
            limits = self.alert_marks.limits(quantity)
            if limits:  # with room for the lines' labels, which sit above or below them
                low, high = min(low, *limits), max(high, *limits)
                room = (high - low) * LIMIT_LABEL_ROOM
                low, high = min(low, min(limits) - room), max(high, max(limits) + room)
            if not np.isfinite(low) or not np.isfinite(high):
                continue
            pad = max((high - low) * Y_PADDING, 0.5)
            wanted = (low - pad, high + pad)
            if self._y_ranges.get(quantity) != wanted:
                self.plots[quantity].setYRange(*wanted, padding=0)
                self._y_ranges[quantity] = wanted

    def curve_data(self, sensor_id: str, quantity: str) -> tuple[np.ndarray, np.ndarray]:
        """The points a curve holds now (the visible range, decimated if dense)."""
        x, y = self.curves[(sensor_id, quantity)].getData()
        return (np.asarray([]), np.asarray([])) if x is None else (np.asarray(x), np.asarray(y))

    def set_x_range(self, since: float, until: float) -> None:
        self.plots[QUANTITIES[0]].setXRange(since, until, padding=0)

    def x_range(self) -> tuple[float, float]:
        low, high = self.plots[QUANTITIES[0]].getViewBox().viewRange()[0]
        return float(low), float(high)

    def set_threshold(self, quantity: str, value: float | None) -> None:
        line = self.thresholds[quantity]
        line.setVisible(value is not None)
        if value is not None and line.value() != value:
            line.setValue(value)
        self._y_ranges.pop(quantity, None)

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        # the legend first (width() is already the new one): a legend wider than the view would
        # hold the layout at its width when pyqtgraph fits the layout to the view
        if hasattr(self, "_legend_column_px"):  # pyqtgraph resizes inside __init__, before ours is done
            self._fit_legend()
        super().resizeEvent(event)

    def legend_columns(self) -> int | None:
        """The legend's columns, or None while it is left out for want of room."""
        return None if self.legend is None else self.legend.columnCount

    def _fit_legend(self) -> None:
        """As many legend columns as fit the width, so the legend never widens the plots; no
        legend when it would need more than LEGEND_MAX_ROWS rows (it would squeeze the plots).

        A changed legend is built anew: pyqtgraph's LegendItem keeps the width of its widest
        layout after `setColumnCount`, which would push the plots past the right edge."""
        n = len(self._sensors)
        if n and self._legend_column_px is None:  # measured unplaced: in a layout it takes the cell's width
            self._legend_column_px = max(1.0, self._new_legend(1).width())
        columns = min(n, int((self.width() - LEGEND_MARGIN_PX) // (self._legend_column_px or 1)))
        wanted = columns if columns and math.ceil(n / columns) <= LEGEND_MAX_ROWS else None
        if wanted == self.legend_columns():
            return
        if self.legend is not None:
            self.ci.removeItem(self.legend)
            self.legend = None
        if wanted is not None:
            self.legend = self._new_legend(wanted)
            self.ci.addItem(self.legend, row=0, col=0)

    def _new_legend(self, columns: int) -> pg.LegendItem:
        legend = pg.LegendItem(
            offset=None, verSpacing=-6, horSpacing=16, labelTextColor=theme.FOREGROUND, labelTextSize="9pt"
        )
        legend.setColumnCount(columns)
        for sensor_id in self._sensors:
            legend.addItem(self.curves[(sensor_id, QUANTITIES[0])], sensor_id)
        return legend

    def _fit_label(self, quantity: str) -> None:
        """The left axis says title and unit where that fits the plot's height, else the unit only."""
        plot = self.plots[quantity]
        full = f"{TITLES[quantity]} ({UNITS[quantity]})"
        fits = QFontMetrics(self.font()).horizontalAdvance(full) + LABEL_MARGIN_PX <= plot.getViewBox().height()
        axis = plot.getAxis("left")
        text = full if fits else UNITS[quantity]
        if axis.labelText != text:
            axis.setLabel(text, color=theme.FOREGROUND)
            axis.setToolTip(full)

    def _pixel_width(self) -> int:
        return max(200, int(self.plots[QUANTITIES[0]].getViewBox().width()))
