"""Run the dashboard: the QApplication, the network worker and the main window."""

from __future__ import annotations

import logging
import signal
import sys
import time
from pathlib import Path

from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication

from desktop_client.net_thread import NetworkWorker
from desktop_client.options import ClientOptions
from desktop_client.theme import apply_dark_theme
from desktop_client.window import DEFAULT_SIZE, MainWindow

log = logging.getLogger(__name__)


def build_window(options: ClientOptions) -> MainWindow:
    """A window wired to a real network worker (needs a QApplication)."""
    return MainWindow(options, NetworkWorker(options))


def run(options: ClientOptions, *, screenshot: Path | None = None, screenshot_timeout_s: float = 60.0) -> int:
    """Show the dashboard until its window is closed (or Ctrl-C); returns the exit status.
    With `screenshot`, save the window once it is worth looking at, then close it."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("telering")
    apply_dark_theme(app)
    window = build_window(options)
    window.resize(*DEFAULT_SIZE)
    window.show()
    window.start()
    # Python handles SIGINT between Qt events; the redraw timer keeps those coming.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    log.info("dashboard on %s, window %s", options.url, options.window)
    if screenshot is not None:
        outcome = _ScreenshotWhenReady(window, screenshot, screenshot_timeout_s)
        app.exec_()
        return outcome.status
    return app.exec_()


class _ScreenshotWhenReady:
    """Checks (on the GUI thread, a few times a second) for a window that is connected, has
    loaded its history and has drawn live readings for longer than the rate meter's span (so
    the status bar's rate is the real one); then saves it and closes it."""

    def __init__(self, window: MainWindow, path: Path, timeout_s: float) -> None:
        self.window, self.path, self.status = window, path, 1
        self._deadline = time.monotonic() + timeout_s
        self._live_since: float | None = None
        self._timer = QTimer(window)
        self._timer.timeout.connect(self._check)
        self._timer.start(200)

    def _ready(self) -> bool:
        w = self.window
        if not (w.connection_state == "connected" and w.loaded is not None and w.rate.total > 0):
            return False
        if self._live_since is None:
            self._live_since = time.monotonic()
        return time.monotonic() - self._live_since > w.rate.span_s

    def _check(self) -> None:
        if self._ready():
            self.window.redraw()
            self.window.refresh_labels(self.window.clock())
            log.info("screenshot saved to %s", self.window.save_screenshot(self.path))
            self.status = 0
        elif time.monotonic() < self._deadline:
            return
        else:
            log.error("no history and live readings to show after the timeout: no screenshot")
        self._timer.stop()
        self.window.close()
