"""The dashboard's dark look: a Fusion palette, plot colours and one colour per sensor."""

from __future__ import annotations

from PyQt5.QtGui import QColor, QPalette
from PyQt5.QtWidgets import QApplication

BACKGROUND = "#17191e"
PANEL = "#22252c"
FOREGROUND = "#d7dae0"
MUTED = "#8a909c"
GRID_ALPHA = 0.18
THRESHOLD = "#ff5c5c"
ACCENT = "#4e9af1"

# Alerts: a severity's colour (list rows, rule lines); a pending alert's is paler (not yet firing).
SEVERITY_COLOURS = {"critical": THRESHOLD, "warning": "#f2b33d", "info": ACCENT}
# Transition markers, by the state a transition goes to.
STATE_COLOURS = {"firing": THRESHOLD, "pending": "#f2b33d", "ok": "#5fd068"}
PENDING_SATURATION = 0.45


def alert_colour(severity: str, state: str) -> QColor:
    colour = QColor(SEVERITY_COLOURS.get(severity, MUTED))
    if state == "pending":
        hue, saturation, value, _ = colour.getHsvF()
        colour = QColor.fromHsvF(hue, saturation * PENDING_SATURATION, min(1.0, value * 1.1))
    return colour


# Distinct, bright on dark; beyond them colours are spread evenly round the hue circle.
_SENSOR_COLOURS = (
    "#4e9af1",
    "#f5a142",
    "#5fd068",
    "#ef5b5b",
    "#b48ef0",
    "#4fd6d6",
    "#f28fd0",
    "#e5d558",
    "#c8996b",
    "#9fb4ff",
    "#a6e22e",
    "#ff8c69",
)


def sensor_colour(index: int) -> QColor:
    if index < len(_SENSOR_COLOURS):
        return QColor(_SENSOR_COLOURS[index])
    extra = index - len(_SENSOR_COLOURS)
    return QColor.fromHsv((extra * 47 + 20) % 360, 150, 245)


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.Window: PANEL,
        QPalette.WindowText: FOREGROUND,
        QPalette.Base: BACKGROUND,
        QPalette.AlternateBase: PANEL,
        QPalette.ToolTipBase: PANEL,
        QPalette.ToolTipText: FOREGROUND,
        QPalette.Text: FOREGROUND,
        QPalette.Button: PANEL,
        QPalette.ButtonText: FOREGROUND,
        QPalette.BrightText: THRESHOLD,
        QPalette.Highlight: ACCENT,
        QPalette.HighlightedText: "#000000",
        QPalette.Link: ACCENT,
        QPalette.PlaceholderText: MUTED,
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.Text, QPalette.ButtonText, QPalette.WindowText):
        palette.setColor(QPalette.Disabled, role, QColor(MUTED))
    app.setPalette(palette)
