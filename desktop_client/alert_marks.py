"""Alerts drawn on the plots: each threshold rule's limit (and `clear`) as dashed lines on its
quantity's plot, and a point at each transition, for the sensors shown.

A rule's lines show while at least one shown sensor is one it covers (its ids and globs); a
transition's point while its sensor is shown and its rule, which names the quantity, is in force.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyqtgraph as pg
from PyQt5.QtCore import Qt

from desktop_client import theme
from desktop_client.alert_records import AlertRule, Transition

TRANSITIONS_MAX = 10_000  # kept for drawing, the oldest dropped first
MARKER_PX = 9
LINE_Z, MARKER_Z = 5, 20  # above the curves (0), under the user's own threshold line (10) for lines


class AlertMarks:
    """Owns the rule lines and transition markers of the four plots."""

    def __init__(self, plots: dict[str, pg.PlotItem]) -> None:
        self._plots = plots
        self.rules: dict[str, AlertRule] = {}
        self.lines: dict[str, list[pg.InfiniteLine]] = {}  # rule name -> its limit line (and clear line)
        self.transitions: dict[str, Transition] = {}  # by id: history and live overlap
        self.markers: dict[str, pg.ScatterPlotItem] = {}
        self._shown: frozenset[str] = frozenset()
        for quantity, plot in plots.items():
            scatter = pg.ScatterPlotItem(size=MARKER_PX, pen=pg.mkPen(theme.BACKGROUND), hoverable=True, tip=_tip)
            scatter.setZValue(MARKER_Z)
            plot.addItem(scatter, ignoreBounds=True)
            self.markers[quantity] = scatter

    def load(self, rules: Iterable[AlertRule], transitions: Iterable[Transition]) -> None:
        """Replace the rules and the transitions (a window's snapshot)."""
        for name, lines in self.lines.items():
            for line in lines:
                self._plots[self.rules[name].quantity].removeItem(line)
        self.rules = {r.name: r for r in rules}
        self.lines = {r.name: self._lines_of(r) for r in self.rules.values() if r.threshold is not None}
        self.transitions = {}
        self._keep(transitions)
        self._show_lines()
        self._draw_markers()

    def add(self, transition: Transition) -> None:
        """A live transition."""
        self._keep([transition])
        self._draw_markers()

    def show_for(self, sensors: Iterable[str]) -> None:
        """The sensors shown now; cheap when they did not change (called every frame)."""
        shown = frozenset(sensors)
        if shown != self._shown:
            self._shown = shown
            self._show_lines()
            self._draw_markers()

    def limits(self, quantity: str) -> list[float]:
        """The values of the rule lines visible on a quantity's plot (its y range includes them)."""
        return [
            line.value()
            for name, lines in self.lines.items()
            if self.rules[name].quantity == quantity
            for line in lines
            if line.isVisible()
        ]

    def marker_points(self, quantity: str) -> list[tuple[float, float, str]]:
        """The markers on a quantity's plot: (ts, value, the state the transition went to)."""
        return [(p.pos().x(), p.pos().y(), p.data().to_state) for p in self.markers[quantity].points()]

    def _keep(self, transitions: Iterable[Transition]) -> None:
        for t in transitions:
            self.transitions[t.id] = t
        while len(self.transitions) > TRANSITIONS_MAX:
            del self.transitions[next(iter(self.transitions))]

    def _lines_of(self, rule: AlertRule) -> list[pg.InfiniteLine]:
        colour = theme.SEVERITY_COLOURS[rule.severity]
        above = rule.above is not None
        # the limit's label on its far side, the clear line's on its near side: they never overlap
        outside, inside = ((1, 1), (1, 0)) if above else ((1, 0), (1, 1))
        specs = [(rule.threshold, f"{rule.name} {'>' if above else '<'} {rule.threshold:g}", Qt.DashLine, outside)]
        if rule.clears_at != rule.threshold:
            label = f"{rule.name} clears {'≤' if above else '≥'} {rule.clears_at:g}"
            specs.append((rule.clears_at, label, Qt.DotLine, inside))
        lines = []
        for value, label, style, anchor in specs:
            line = pg.InfiniteLine(
                pos=value,
                angle=0,
                movable=False,
                pen=pg.mkPen(colour, width=1.2, style=style),
                label=label,
                labelOpts={"color": colour, "position": 0.98, "anchors": [anchor, anchor]},
            )
            line.setZValue(LINE_Z)
            line.setToolTip(rule.summary or label)
            self._plots[rule.quantity].addItem(line, ignoreBounds=True)
            lines.append(line)
        return lines

    def _show_lines(self) -> None:
        for name, lines in self.lines.items():
            covered = any(self.rules[name].covers(s) for s in self._shown)
            for line in lines:
                line.setVisible(covered)

    def _draw_markers(self) -> None:
        spots: dict[str, list[dict]] = {q: [] for q in self.markers}
        for t in self.transitions.values():
            rule = self.rules.get(t.rule)
            if t.value is None or rule is None or rule.quantity is None or t.sensor_id not in self._shown:
                continue
            colour = theme.STATE_COLOURS[t.to_state]
            spots[rule.quantity].append({"pos": (t.ts, t.value), "brush": pg.mkBrush(colour), "data": t})
        for quantity, scatter in self.markers.items():
            scatter.setData(spots[quantity])


def _tip(x: float, y: float, data: Transition) -> str:
    return f"{data.rule} · {data.sensor_id}: {data.from_state} → {data.to_state} at {y:g}\n{data.summary}".strip()
