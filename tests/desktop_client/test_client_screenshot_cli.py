"""`python -m desktop_client --screenshot PNG` (what `make screenshot` runs) as its own process,
offscreen, on a real web node: it waits for history and a rate meter's span of live readings,
saves the window and exits 0; with nothing to show it gives up after its timeout and exits 1."""

from __future__ import annotations

import pytest
from PIL import Image

from desktop_client.window import DEFAULT_SIZE
from testkit.processes import ManagedProcess, child_env, python_argv
from tests.desktop_client.web_process import PARTITIONS, at, exit_code_storing_live
from tests.support.web import sensors_of_receiver

pytestmark = pytest.mark.gui


def _dashboard(web_node, tmp_path, png, *args: str) -> ManagedProcess:
    argv = python_argv("desktop_client", "--url", web_node.url, "--window", "1m", "--screenshot", str(png), *args)
    return ManagedProcess("dashboard", argv, child_env({"QT_QPA_PLATFORM": "offscreen"}), tmp_path / "dash.log").start()


def test_screenshot_waits_for_live_readings_then_saves_and_exits_0(web_node, tmp_path):
    [sensor] = sensors_of_receiver(1, PARTITIONS, 1)
    web_node.store([at(5, sensor, 0, temperature=12.0)])
    png = tmp_path / "shot.png"
    dashboard = _dashboard(web_node, tmp_path, png)
    code, live = exit_code_storing_live(dashboard, web_node, sensor)
    assert code == 0, dashboard.log_tail()
    assert "screenshot saved" in dashboard.log_text()
    with Image.open(png) as image:
        assert image.size == DEFAULT_SIZE
    # saved only after the history loaded, with live readings stored meanwhile
    log = dashboard.log_text()
    assert log.index("loaded:") < log.index("screenshot saved"), log
    assert live > 0, "no live reading was stored while the dashboard waited"


def test_screenshot_with_no_live_readings_gives_up_with_exit_1(web_node, tmp_path):
    png = tmp_path / "shot.png"
    dashboard = _dashboard(web_node, tmp_path, png, "--screenshot-timeout", "3")
    try:
        assert dashboard.proc is not None
        assert dashboard.proc.wait(60) == 1, dashboard.log_tail()
    finally:
        dashboard.kill()
    assert not png.exists()
    assert "no history and live readings to show" in dashboard.log_text()
