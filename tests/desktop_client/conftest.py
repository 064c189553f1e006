"""Desktop client tests: Qt offscreen (no screen needed), a fake data source for window tests."""

from __future__ import annotations

import os

# Qt reads this when the QApplication is created, which pytest-qt does after collection.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PyQt5.QtCore import QObject, pyqtSignal

from desktop_client.net_thread import NetworkWorker
from desktop_client.options import ClientOptions
from desktop_client.theme import apply_dark_theme
from desktop_client.window import MainWindow
from tests.desktop_client.web_process import WebNode


class FakeSource(QObject):
    """Stands in for NetworkWorker: the test emits its signals by hand."""

    sensors_loaded = pyqtSignal(object)
    history_loaded = pyqtSignal(object)
    readings_arrived = pyqtSignal(object)
    state_changed = pyqtSignal(str, str)
    notice = pyqtSignal(str)
    alerts_loaded = pyqtSignal(object)
    alert_arrived = pyqtSignal(object)

    def __init__(self) -> None:
        super().__init__()
        self.started = self.stopped = False
        self.windows: list[int] = []

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def set_window(self, window_s: int) -> int:
        self.windows.append(window_s)
        return len(self.windows)


@pytest.fixture
def dark_app(qapp):
    apply_dark_theme(qapp)
    return qapp


@pytest.fixture
def fake_window(qtbot, dark_app) -> Iterator[Callable[..., tuple[MainWindow, FakeSource]]]:
    """Factory: a shown MainWindow on a FakeSource; options by keyword."""

    def make(**options: object) -> tuple[MainWindow, FakeSource]:
        source = FakeSource()
        window = MainWindow(ClientOptions(url="http://fake", **options), source)
        qtbot.addWidget(window)
        window.resize(1200, 800)
        window.show()
        window.start()
        return window, source

    yield make


@pytest.fixture
def dashboard(qtbot, dark_app) -> Iterator[Callable[..., MainWindow]]:
    """Factory: a shown MainWindow with a real NetworkWorker on `url`, closed at teardown."""
    windows: list[MainWindow] = []

    def open_window(url: str, **options: object) -> MainWindow:
        opts = ClientOptions(url=url, backoff_max_s=1.0, redraw_ms=50, **options)
        window = MainWindow(opts, NetworkWorker(opts))
        qtbot.addWidget(window)
        window.resize(1500, 900)
        window.show()
        window.start()
        windows.append(window)
        return window

    yield open_window
    for window in windows:
        window.close()


@pytest.fixture
def web_node(tmp_path: Path) -> Iterator[WebNode]:
    """A real web node process on a loopback port (tests/desktop_client/web_process.py)."""
    node = WebNode(tmp_path)
    yield node.start()
    node.stop()
