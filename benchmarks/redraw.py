"""Redraw rate of the desktop client: frames/s with 20 sensors × 10,000 points, offscreen.

A frame is what the dashboard's timer does when data arrives: one new reading per sensor,
`MainWindow.redraw()` (curves get their visible points, the x range follows the clock), then
Qt's event processing, which paints the plots once (a repaint is forced if nothing asked for
one, as in the static scenario). Run: `python -m benchmarks.redraw --json OUT`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QEvent, QObject
from PyQt5.QtWidgets import QApplication

from desktop_client.net_thread import NetworkWorker
from desktop_client.options import ClientOptions
from desktop_client.records import Block, Sample
from desktop_client.theme import apply_dark_theme
from desktop_client.window import MainWindow

log = logging.getLogger(__name__)


class _PaintCounter(QObject):
    """Counts the paint events of the widget it filters."""

    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Paint:
            self.paints += 1
        return False


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _fill(window: MainWindow, sensors: int, points: int, start: float) -> None:
    rng = np.random.default_rng(7)
    t = start + np.arange(points, dtype=float)
    for i in range(sensors):
        walk = np.cumsum(rng.normal(0, 0.05, size=(points, 4)), axis=0)
        values = np.array([20.0 + i * 0.3, 45.0 + i, 1000.0 + i, 90.0 - i]) + walk
        seq = np.arange(points, dtype=np.int64)
        window.ensure_sensor(f"sensor-{i:02d}").load(Block(f"sensor-{i:02d}", t, values, seq), 0, start, t[-1])


def _measure(app: QApplication, window: MainWindow, clock: _Clock, sensors: int, seconds: float, append: bool) -> dict:
    frame_ms: list[float] = []
    cpu_ms: list[float] = []
    seq = 10**6
    counter = _PaintCounter()
    viewport = window.panel.viewport()
    viewport.installEventFilter(counter)
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        begin, cpu_begin = time.perf_counter(), time.process_time()
        if append:
            clock.now += 1.0
            seq += 1
            window.on_readings(
                [Sample(f"sensor-{i:02d}", seq, clock.now, (21.0, 45.0, 1001.0, 80.0)) for i in range(sensors)]
            )
        window.redraw()
        painted = counter.paints
        app.processEvents()
        if counter.paints == painted:
            viewport.repaint()
        frame_ms.append((time.perf_counter() - begin) * 1000)
        cpu_ms.append((time.process_time() - cpu_begin) * 1000)
    viewport.removeEventFilter(counter)
    frame_ms, cpu_ms = frame_ms[2:] or frame_ms, cpu_ms[2:] or cpu_ms  # the first frames build caches
    return {
        "frames": len(frame_ms),
        "fps": round(1000 * len(frame_ms) / sum(frame_ms), 1),
        "frame_ms_mean": round(statistics.fmean(frame_ms), 2),
        "frame_ms_p95": round(float(np.percentile(frame_ms, 95)), 2),
        "frame_ms_max": round(max(frame_ms), 2),
        # CPU time of this process per frame: what a frame costs, whatever else the machine runs
        "cpu_ms_mean": round(statistics.fmean(cpu_ms), 2),
        "fps_by_cpu": round(1000 * len(cpu_ms) / max(sum(cpu_ms), 1e-9), 1),
    }


def run(sensors: int, points: int, seconds: float, size: tuple[int, int], platform_name: str) -> dict:
    app = QApplication.instance() or QApplication([sys.argv[0], "-platform", platform_name])
    apply_dark_theme(app)
    results: dict[str, dict] = {}
    for window_key, append in (("10m", True), ("24h", True), ("24h", False)):
        start = 1_800_000_000.0
        clock = _Clock(start + points - 1)
        options = ClientOptions(url="http://127.0.0.1:9", window=window_key, capacity=points)
        # The worker is never started: the benchmark feeds the window directly.
        window = MainWindow(options, NetworkWorker(options), clock=clock)
        window.resize(*size)
        window.show()
        _fill(window, sensors, points, start)
        name = f"window_{window_key}_{'live' if append else 'static'}"
        results[name] = _measure(app, window, clock, sensors, seconds, append)
        results[name]["visible_points_per_curve"] = min(points, options.window_s)
        log.info("%s: %s", name, results[name])
        window.timer.stop()
        window.deleteLater()
        app.processEvents()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.redraw", description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the figures to this JSON file")
    parser.add_argument("--sensors", type=int, default=20, help="sensors (default 20)")
    parser.add_argument("--points", type=int, default=10_000, help="points per sensor (default 10000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per scenario (default 5)")
    parser.add_argument("--size", default="1600x1000", help="window size WxH (default 1600x1000)")
    parser.add_argument(
        "--platform",
        default=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
        help="Qt platform plugin (default QT_QPA_PLATFORM, else offscreen: no screen needed)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    width, height = (int(v) for v in args.size.lower().split("x"))
    figures = {
        "benchmark": "desktop_client redraw",
        "sensors": args.sensors,
        "points_per_sensor": args.points,
        "curves": args.sensors * 4,
        "window_size": [width, height],
        "qt_platform": args.platform,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
        "scenarios": run(args.sensors, args.points, args.seconds, (width, height), args.platform),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
    }
    text = json.dumps(figures, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
