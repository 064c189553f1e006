"""The dashboard end to end: a real web node process, data stored through its write path.

Needs: a real web node (`python -m web_node`) on a loopback port with a real SQLite file, started
and restarted here; readings go in only through `POST /api/v1/batches` with valid grants, and
the window (pytest-qt, offscreen) reads them back through `/api/v1/*` and the live WebSocket.
"""

from __future__ import annotations

import time
from datetime import datetime

import numpy as np
import pytest

from desktop_client.window import MainWindow
from tests.desktop_client.web_process import OUTPUT, PARTITIONS, at
from tests.support.web import sensors_of_receiver

pytestmark = pytest.mark.gui

SCREENSHOT = OUTPUT / "window.png"


def bucket_means(readings: list[dict], bucket_s: int, since: float) -> list[float]:
    """The temperature means per time bucket of the readings since `since`, oldest first."""
    buckets: dict[int, list[float]] = {}
    for r in readings:
        t = datetime.fromisoformat(r["ts"]).timestamp()
        if t >= since:
            buckets.setdefault(int(t // bucket_s), []).append(r["temperature"])
    return [sum(v) / len(v) for _, v in sorted(buckets.items())]


def connected(window: MainWindow) -> None:
    assert window.connection_state == "connected", f"{window.connection_state}: {window.state_detail}"


def temperatures(window: MainWindow, sensor: str) -> list[float]:
    """The temperatures the sensor's curve holds ([] until the window made the curve)."""
    if (sensor, "temperature") not in window.panel.curves:
        return []
    return window.panel.curve_data(sensor, "temperature")[1].tolist()


def test_window_shows_the_sensors_that_exist(web_node, dashboard, qtbot):
    sensors = sensors_of_receiver(0, PARTITIONS, 2) + sensors_of_receiver(3, PARTITIONS, 1)
    web_node.store([at(20 - i, s, i, temperature=18.0 + i) for s in sensors for i in range(5)])
    window = dashboard(web_node.url, window="1m")
    qtbot.waitUntil(lambda: connected(window), timeout=15_000)
    qtbot.waitUntil(lambda: window.sensor_list.sensor_ids() == sorted(sensors), timeout=15_000)
    qtbot.waitUntil(
        lambda: all(temperatures(window, s) == [18.0, 19.0, 20.0, 21.0, 22.0] for s in sensors), timeout=15_000
    )


def test_new_readings_appear_in_the_curves(web_node, dashboard, qtbot):
    [sensor] = sensors_of_receiver(1, PARTITIONS, 1)
    web_node.store([at(5, sensor, 0)])
    window = dashboard(web_node.url, window="1m")
    qtbot.waitUntil(lambda: connected(window), timeout=15_000)
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=15_000)
    web_node.store([at(1, sensor, seq, temperature=30.0 + seq / 10) for seq in range(1, 4)])
    qtbot.waitUntil(lambda: temperatures(window, sensor)[-3:] == [30.1, 30.2, 30.3], timeout=15_000)
    assert window.rate.total >= 3  # they came over the live socket, not a reload


def test_a_web_node_restart_is_survived(web_node, dashboard, qtbot):
    [sensor] = sensors_of_receiver(2, PARTITIONS, 1)
    web_node.store([at(3, sensor, 0, temperature=10.0)])
    window = dashboard(web_node.url, window="1m")
    qtbot.waitUntil(lambda: connected(window), timeout=15_000)
    qtbot.waitUntil(lambda: temperatures(window, sensor) == [10.0], timeout=15_000)
    states: list[str] = []
    window.source.state_changed.connect(lambda state, _detail: states.append(state))

    web_node.stop()
    qtbot.waitUntil(lambda: window.connection_state == "reconnecting", timeout=15_000)
    web_node.start()
    qtbot.waitUntil(lambda: connected(window), timeout=20_000)
    assert states[:1] == ["reconnecting"] and states[-1] == "connected"

    web_node.store([at(1, sensor, 1, temperature=11.0)])
    qtbot.waitUntil(lambda: temperatures(window, sensor) == [10.0, 11.0], timeout=15_000)


def test_time_window_switch_loads_history(web_node, dashboard, qtbot):
    [sensor] = sensors_of_receiver(0, PARTITIONS, 1)
    readings = [
        at(20 * 86400, sensor, 3, temperature=-5.0),  # only in the 30 d window
        at(3 * 86400, sensor, 4, temperature=0.0),  # in the 7 d window
        at(5 * 3600, sensor, 0, temperature=5.0),  # in the 24 h window
        at(1800, sensor, 1, temperature=15.0),  # in the 1 h window
        at(2, sensor, 2, temperature=25.0),  # in every window
    ]
    web_node.store(readings)
    window = dashboard(web_node.url, window="1m")
    qtbot.waitUntil(lambda: window.loaded is not None and temperatures(window, sensor) == [25.0], timeout=15_000)

    window.set_window("1h")
    qtbot.waitUntil(lambda: window.loaded is not None and window.loaded.window_s == 3600, timeout=15_000)
    qtbot.waitUntil(lambda: temperatures(window, sensor) == [15.0, 25.0], timeout=5_000)
    assert not window.loaded.raw  # downsampled history from /api/v1/stats

    window.set_window("24h")
    qtbot.waitUntil(lambda: window.loaded.window_s == 86400, timeout=15_000)
    qtbot.waitUntil(lambda: temperatures(window, sensor) == [5.0, 15.0, 25.0], timeout=5_000)
    low, high = window.panel.x_range()
    assert high - low == pytest.approx(86400, rel=0.01)

    for key, days in (("7d", 7), ("30d", 30)):
        window.set_window(key)
        qtbot.waitUntil(lambda d=days: window.loaded.window_s == d * 86400, timeout=15_000)
        bucket = window.loaded.bucket_s
        assert bucket % 3600 == 0  # whole hours: the 1-hour rollups answer
        shown = bucket_means(readings, bucket, since=time.time() - days * 86400)
        assert shown[0] == (-5.0 if days == 30 else 0.0)  # the oldest reading inside the window comes first
        qtbot.waitUntil(lambda s=shown: temperatures(window, sensor) == s, timeout=5_000)


def test_screenshot_of_the_running_window(web_node, dashboard, qtbot):
    """Nine minutes of six sensors' history, then live readings; the PNG goes under test-output/."""
    sensors = [s for r in range(PARTITIONS) for s in sensors_of_receiver(r, PARTITIONS, 2)][:6]
    rng = np.random.default_rng(5)
    history = []
    for k, sensor in enumerate(sensors):
        walk = np.cumsum(rng.normal(0, 0.08, size=(120, 4)), axis=0)
        for i in range(120):  # one reading every 4.5 s over the last 9 minutes
            history.append(
                at(
                    540 - 4.5 * i,
                    sensor,
                    i,
                    temperature=round(19 + 1.2 * k + 1.5 * np.sin(i / 25 + k) + walk[i, 0], 2),
                    humidity=round(min(100, max(0, 38 + 6 * k + walk[i, 1] * 3)), 2),
                    pressure=round(1008 + 2 * k + walk[i, 2] * 2, 2),
                    battery=round(max(0, 96 - 7 * k - i * 0.02), 2),
                )
            )
    web_node.store(history)
    window = dashboard(web_node.url, window="10m")
    window.thresholds.set_value("temperature", 26.0)
    qtbot.waitUntil(
        lambda: window.loaded is not None and all(len(temperatures(window, s)) >= 120 for s in sensors), timeout=20_000
    )
    latest = {r["sensor_id"]: r for r in history}  # live readings carry on from the last ones
    web_node.store(
        [
            at(0.5, s, 120, **{q: latest[s][q] for q in ("temperature", "humidity", "pressure", "battery")})
            for s in sensors
        ]
    )
    qtbot.waitUntil(lambda: window.rate.total >= len(sensors), timeout=15_000)
    qtbot.waitUntil(
        lambda: (
            "readings/s" in window.status.rate.text()
            and "last update" in window.status.update.text()
            and "–" not in window.status.update.text()
        ),
        timeout=5_000,
    )

    path = window.save_screenshot(SCREENSHOT)
    assert path.stat().st_size > 20_000
