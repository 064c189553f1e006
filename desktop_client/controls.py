"""The toolbar (time window, follow, exports) and the status line (connection, rate, last update)."""

from __future__ import annotations

import time

from PyQt5.QtCore import pyqtSignal
from PyQt5.QtWidgets import QButtonGroup, QCheckBox, QLabel, QStatusBar, QToolBar, QToolButton, QWidget

from desktop_client import theme
from desktop_client.options import WINDOW_LABELS, WINDOWS

STATE_COLOURS = {"connected": "#5fd068", "reconnecting": "#f5a142"}


class ViewToolbar(QToolBar):
    """Window buttons (1 min … 24 h), *Follow live*, *Export PNG…*, *Export CSV…*."""

    window_chosen = pyqtSignal(str)
    export_png = pyqtSignal()
    export_csv = pyqtSignal()

    def __init__(self, window_key: str, parent: QWidget | None = None) -> None:
        super().__init__("View", parent)
        self.setMovable(False)
        self.addWidget(QLabel(" Window "))
        self.buttons = QButtonGroup(self)
        self._by_key: dict[str, QToolButton] = {}
        for key in WINDOWS:
            button = QToolButton(text=WINDOW_LABELS[key], checkable=True)
            button.clicked.connect(lambda _c, k=key: self.window_chosen.emit(k))
            self.buttons.addButton(button)
            self.addWidget(button)
            self._by_key[key] = button
        self.show_window(window_key)
        self.addSeparator()
        self.follow = QCheckBox("Follow live")
        self.follow.setChecked(True)
        self.addWidget(self.follow)
        self.addSeparator()
        self.addAction("Export PNG…", self.export_png.emit)
        self.addAction("Export CSV…", self.export_csv.emit)

    def show_window(self, key: str) -> None:
        self._by_key[key].setChecked(True)


class StatusLine:
    """Three permanent labels in a status bar."""

    def __init__(self, bar: QStatusBar) -> None:
        self.state, self.rate, self.update = QLabel(), QLabel(), QLabel()
        for label in (self.state, self.rate, self.update):
            label.setStyleSheet("padding: 0 12px")
            bar.addPermanentWidget(label)

    def show_state(self, state: str, detail: str) -> None:
        colour = STATE_COLOURS.get(state, theme.MUTED)
        self.state.setText(f'<span style="color:{colour}">●</span> {state}')
        self.state.setToolTip(detail)

    def show_rate(self, per_s: float, last_update: float | None) -> None:
        self.rate.setText(f"{per_s:.1f} readings/s")
        last = time.strftime("%H:%M:%S", time.localtime(last_update)) if last_update else "–"
        self.update.setText(f"last update {last}")
