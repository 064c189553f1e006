"""Threshold lines configurable from the UI: a check box and a value per quantity."""

from __future__ import annotations

from PyQt5.QtCore import pyqtSignal
from PyQt5.QtWidgets import QCheckBox, QDoubleSpinBox, QGridLayout, QGroupBox, QWidget

from desktop_client.options import QUANTITIES, TITLES, UNITS
from protocol.quantities import RANGES

# Where a threshold starts when first switched on: a choice of the UI, not of the schema.
DEFAULTS: dict[str, float] = {"temperature": 30.0, "humidity": 70.0, "pressure": 1030.0, "battery": 20.0}
# (minimum, maximum, default): the ranges Measurements is built from, the default kept inside.
LIMITS: dict[str, tuple[float, float, float]] = {
    q: (low, high, min(max(DEFAULTS.get(q, low), low), high)) for q, (low, high) in RANGES.items()
}


class ThresholdControls(QGroupBox):
    """Emits `changed(quantity, value)` with value None when a threshold is switched off."""

    changed = pyqtSignal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Thresholds", parent)
        layout = QGridLayout(self)
        self.boxes: dict[str, QCheckBox] = {}
        self.spins: dict[str, QDoubleSpinBox] = {}
        for row, quantity in enumerate(QUANTITIES):
            low, high, default = LIMITS[quantity]
            box = QCheckBox(TITLES[quantity])
            spin = QDoubleSpinBox()
            spin.setRange(low, high)
            spin.setDecimals(1)
            spin.setSuffix(f" {UNITS[quantity]}")
            spin.setValue(default)
            spin.setEnabled(False)
            box.toggled.connect(lambda on, q=quantity: self._emit(q))
            spin.valueChanged.connect(lambda _v, q=quantity: self._emit(q))
            layout.addWidget(box, row, 0)
            layout.addWidget(spin, row, 1)
            self.boxes[quantity], self.spins[quantity] = box, spin

    def value(self, quantity: str) -> float | None:
        return self.spins[quantity].value() if self.boxes[quantity].isChecked() else None

    def set_value(self, quantity: str, value: float | None) -> None:
        """Set from code or from a dragged line; emits `changed` only if something changed."""
        if value is not None:
            self.spins[quantity].setValue(value)
        self.boxes[quantity].setChecked(value is not None)

    def _emit(self, quantity: str) -> None:
        self.spins[quantity].setEnabled(self.boxes[quantity].isChecked())
        self.changed.emit(quantity, self.value(quantity))
