"""The dashboard on a real X server: `python -m desktop_client` under Xvfb with Qt's xcb platform.

Needs: Xvfb, xauth and xwininfo (tests/support/x11.py; `make sysdeps` installs them) and a real
web node process with a SQLite file, its readings stored through `POST /api/v1/batches`. Proves
what the offscreen tests cannot: the xcb plugin loads, the window maps at its size, and the X
server holds the plots it drew (the pixels are read back from the server, not from Qt).
"""

from __future__ import annotations

import shutil
import signal

import pytest
from PIL import Image

from desktop_client import theme
from desktop_client.window import DEFAULT_SIZE
from testkit.processes import ManagedProcess, child_env, python_argv
from testkit.waiting import eventually
from tests.desktop_client.web_process import OUTPUT, PARTITIONS, at
from tests.support.web import sensors_of_receiver
from tests.support.x11 import XServer, grab, window_info

pytestmark = pytest.mark.gui


def colour_share(image: Image.Image, hex_colour: str) -> float:
    """The share of the image's pixels that are exactly this colour."""
    rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    counts = {colour: n for n, colour in image.getcolors(maxcolors=1 << 24)}
    return counts.get(rgb, 0) / (image.width * image.height)


def test_dashboard_maps_and_draws_under_xcb(x_server: XServer, web_node, tmp_path):
    sensors = [sensors_of_receiver(r, PARTITIONS, 1)[0] for r in range(3)]
    web_node.store(
        [
            at(240 - 2 * i, s, i, temperature=18.0 + k + i / 20, humidity=40.0 + 5 * k, pressure=1000.0 + k)
            for k, s in enumerate(sensors)
            for i in range(120)
        ]
    )
    env = child_env({**x_server.env(), "QT_QPA_PLATFORM": "xcb"})
    dashboard = ManagedProcess(
        "dashboard",
        python_argv("desktop_client", "--url", web_node.url, "--window", "10m"),
        env,
        tmp_path / "dashboard.log",
    ).start()
    try:

        def mapped():
            assert dashboard.alive, f"the dashboard exited:\n{dashboard.log_tail()}"
            window = window_info(x_server, web_node.url)  # the title names the URL
            assert window.viewable and (window.width, window.height) == DEFAULT_SIZE, window
            return window

        window = eventually(mapped, timeout=60, message="the dashboard's window did not map")
        shot = tmp_path / "x11.png"

        def drawn():
            """The dark plot background, and every sensor's curve colour, in the server's pixels."""
            image = Image.open(grab(x_server, window, shot)).convert("RGB")
            assert colour_share(image, theme.BACKGROUND) > 0.2, "no plots drawn yet"
            for index, sensor in enumerate(sorted(sensors)):  # colours go by sensor id order
                assert colour_share(image, theme.sensor_colour(index).name()) > 0.0001, f"{sensor}'s curve missing"
            return image

        eventually(drawn, timeout=60, interval=0.5, message="the window never showed its curves")
        OUTPUT.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, OUTPUT / "x11-window.png")
        dashboard.proc.send_signal(signal.SIGINT)  # the dashboard closes its window on Ctrl-C
        assert dashboard.proc.wait(30) == 0, dashboard.log_tail()
    finally:
        dashboard.stop()


def test_without_a_display_it_says_so_and_exits(tmp_path):
    env = child_env({"QT_QPA_PLATFORM": "xcb"})
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    dashboard = ManagedProcess(
        "dashboard", python_argv("desktop_client", "--url", "http://127.0.0.1:9"), env, tmp_path / "dashboard.log"
    ).start()
    assert dashboard.proc.wait(60) == 1  # not Qt's abort (-6)
    [hint] = [line for line in dashboard.log_text().splitlines() if "ERROR" in line]
    assert "DISPLAY is not set" in hint and "QT_QPA_PLATFORM=offscreen" in hint
