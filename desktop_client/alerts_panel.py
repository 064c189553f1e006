"""The alerts list: every (rule, sensor) pending or firing, most urgent first, coloured by severity."""

from __future__ import annotations

import time

from PyQt5.QtGui import QBrush
from PyQt5.QtWidgets import QGroupBox, QHeaderView, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from desktop_client import theme
from desktop_client.alert_records import Alert, AlertSnapshot, Transition

HEADERS = ["Rule", "Sensor", "State", "Value", "Since"]
_URGENCY = {"critical": 0, "warning": 1, "info": 2}


def since_text(t: float, now: float) -> str:
    """The local time an alert began: `14:03:27` today, `12-05 14:03` before."""
    same_day = time.localtime(t)[:3] == time.localtime(now)[:3]
    return time.strftime("%H:%M:%S" if same_day else "%m-%d %H:%M", time.localtime(t))


class AlertsPanel(QGroupBox):
    """Pending alerts paler and in italics; replaced whole by a snapshot, changed by transitions.
    The title counts them, or says the web node has no alerting."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(HEADERS))
        self.tree.setHeaderLabels(HEADERS)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.tree.header().setStretchLastSection(False)
        font = self.tree.font()
        font.setPointSizeF(font.pointSizeF() - 1)
        self.tree.setFont(font)
        layout.addWidget(self.tree)
        self.alerts: dict[tuple[str, str], Alert] = {}
        self.enabled = True
        self.rule_count: int | None = None  # unknown until the first snapshot
        self._refill()

    def show_snapshot(self, snapshot: AlertSnapshot) -> None:
        self.enabled = snapshot.enabled
        self.rule_count = len(snapshot.rules)
        self.alerts = {a.key: a for a in snapshot.alerts}
        self._refill()

    def apply(self, transition: Transition) -> None:
        """A live transition: to `ok` removes its row, to `pending`/`firing` adds or updates it."""
        alert = transition.as_alert()
        if alert is None:
            self.alerts.pop(transition.key, None)
        else:
            self.alerts[transition.key] = alert
        self._refill()

    def _title(self) -> str:
        if not self.enabled:
            return "Alerts: off on this web node"
        if self.rule_count == 0 and not self.alerts:
            return "Alerts: no rules in force"
        firing = sum(a.state == "firing" for a in self.alerts.values())
        return f"Alerts: {firing} firing, {len(self.alerts) - firing} pending"

    def rows(self) -> list[tuple[str, ...]]:
        """The rows as shown, top to bottom (the texts of every column)."""
        return [
            tuple(item.text(c) for c in range(len(HEADERS)))
            for item in (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        ]

    def _refill(self) -> None:
        self.tree.clear()
        now = time.time()
        ordered = sorted(
            self.alerts.values(), key=lambda a: (a.state != "firing", _URGENCY.get(a.severity, 3), -a.since)
        )
        for alert in ordered:
            value = "–" if alert.value is None else f"{alert.value:g}"
            item = QTreeWidgetItem([alert.rule, alert.sensor_id, alert.state, value, since_text(alert.since, now)])
            brush = QBrush(theme.alert_colour(alert.severity, alert.state))
            font = item.font(0)
            font.setItalic(alert.state == "pending")
            font.setBold(alert.state == "firing" and alert.severity == "critical")
            for column in range(len(HEADERS)):
                item.setForeground(column, brush)
                item.setFont(column, font)
                item.setToolTip(column, f"{alert.severity}: {alert.summary or alert.rule}")
            self.tree.addTopLevelItem(item)
        self.setTitle(self._title())
