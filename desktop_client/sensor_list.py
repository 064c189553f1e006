"""The sensor list: a check box and colour per sensor, when it was last seen, its latest values."""

from __future__ import annotations

import re
import time

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QColor, QIcon, QPixmap
from PyQt5.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from desktop_client.options import QUANTITIES, TITLES, UNITS
from desktop_client.records import Sample

SHORT = {"temperature": "T", "humidity": "H", "pressure": "P", "battery": "Bat"}  # narrow columns
HEADERS = ["Sensor", "Seen", *(f"{SHORT.get(q, TITLES[q])} {UNITS[q]}" for q in QUANTITIES)]
DECIMALS = {"temperature": 1, "humidity": 1, "pressure": 1, "battery": 0}


def natural_key(text: str) -> list[object]:
    """Sort `sensor-2` before `sensor-10`."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


class _SensorItem(QTreeWidgetItem):
    def __lt__(self, other: QTreeWidgetItem) -> bool:
        column = self.treeWidget().sortColumn() if self.treeWidget() else 0
        if column == 0:
            return natural_key(self.text(0)) < natural_key(other.text(0))
        return super().__lt__(other)


def age_text(seconds: float) -> str:
    """A short, human age: `now`, `42 s`, `5 min`, `3 h`, `2 d`."""
    if seconds < 1:
        return "now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


class SensorList(QTreeWidget):
    """One row per sensor; the check box says whether its curves are shown."""

    visibility_changed = pyqtSignal(str, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(len(HEADERS))
        self.setHeaderLabels(HEADERS)
        for column, quantity in enumerate(QUANTITIES, start=2):
            self.headerItem().setToolTip(column, f"{TITLES[quantity]} ({UNITS[quantity]})")
        self.setRootIsDecorated(False)
        self.setAlternatingRowColors(True)
        self.setUniformRowHeights(True)
        self.setSortingEnabled(True)
        self.sortByColumn(0, Qt.AscendingOrder)
        font = self.font()
        font.setPointSizeF(font.pointSizeF() - 1)
        self.setFont(font)
        header = self.header()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setStretchLastSection(False)
        self._items: dict[str, QTreeWidgetItem] = {}
        self.itemChanged.connect(self._on_item_changed)

    def add_sensor(self, sensor_id: str, colour: QColor, checked: bool = True) -> None:
        if sensor_id in self._items:
            return
        item = _SensorItem([sensor_id, "–", *("–" for _ in QUANTITIES)])
        item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
        swatch = QPixmap(12, 12)
        swatch.fill(colour)
        item.setIcon(0, QIcon(swatch))
        for col in range(1, len(HEADERS)):
            item.setTextAlignment(col, Qt.AlignRight | Qt.AlignVCenter)
        self._items[sensor_id] = item
        self.blockSignals(True)
        item.setCheckState(0, Qt.Checked if checked else Qt.Unchecked)
        self.addTopLevelItem(item)
        self.blockSignals(False)

    def sensor_ids(self) -> list[str]:
        return sorted(self._items)

    def is_checked(self, sensor_id: str) -> bool:
        return self._items[sensor_id].checkState(0) == Qt.Checked

    def set_checked(self, sensor_id: str, checked: bool) -> None:
        item = self._items.get(sensor_id)
        if item is not None and self.is_checked(sensor_id) != checked:
            item.setCheckState(0, Qt.Checked if checked else Qt.Unchecked)

    def show_latest(self, sensor_id: str, latest: Sample | None, now: float | None = None) -> None:
        item = self._items.get(sensor_id)
        if item is None or latest is None:
            return
        now = time.time() if now is None else now
        item.setText(1, age_text(max(0.0, now - latest.t)))
        item.setToolTip(1, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(latest.t)))
        for col, (quantity, value) in enumerate(zip(QUANTITIES, latest.values, strict=False), start=2):
            item.setText(col, f"{value:.{DECIMALS.get(quantity, 1)}f}")

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 0:
            self.visibility_changed.emit(item.text(0), item.checkState(0) == Qt.Checked)
