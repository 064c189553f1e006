"""pytest plugin: a real Alertmanager (Debian's `prometheus-alertmanager`) for the session, on a
free loopback port, whose one receiver is a webhook to an aiohttp server of the test's own.

Clustering is off (`--cluster.listen-address=`), storage in a temp dir, group_wait 0 s and
group_interval 1 s so notifications come at once, repeat_interval long so each is sent once.
Without the binary the tests that use it skip — under CI=true they fail (as PostgreSQL's do).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from aiohttp import web

from testkit.processes import ManagedProcess, free_port
from testkit.waiting import eventually

BINARY = "prometheus-alertmanager"
CONFIG = """\
route:
  receiver: webhook
  group_by: ["alertname", "sensor_id"]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 4h
receivers:
  - name: webhook
    webhook_configs:
      - url: "{webhook}"
        send_resolved: true
"""


class WebhookReceiver:
    """An aiohttp server on its own thread and loop: keeps every notification Alertmanager posts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.notifications: list[dict] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="webhook-receiver", daemon=True)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        assert self._ready.wait(10), "the webhook receiver did not start"
        return self

    def alerts(self, **labels: str) -> list[dict]:
        """Every alert of every notification so far whose labels include `labels`."""
        found = [a for n in list(self.notifications) for a in n["alerts"]]
        return [a for a in found if all(a["labels"].get(k) == v for k, v in labels.items())]

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def hook(request: web.Request) -> web.Response:
            self.notifications.append(await request.json())
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/hook", hook)
        self._runner = runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        """Close the server (and Alertmanager's kept-alive connections to it), then end the thread."""
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class Alertmanager:
    """The running Alertmanager; `stop()` and `start()` (same port, same storage) for outages."""

    def __init__(self, binary: str, workdir: Path, webhook: WebhookReceiver) -> None:
        self.webhook = webhook
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "alertmanager.yml"
        config.write_text(CONFIG.format(webhook=webhook.url))
        argv = [
            binary,
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
        ]
        self.process = ManagedProcess("alertmanager", argv, dict(os.environ), workdir / "alertmanager.log")

    def start(self) -> Alertmanager:
        self.process.start()
        eventually(self._ready, timeout=30, interval=0.1, message="Alertmanager did not become ready")
        return self

    def stop(self) -> None:
        self.process.stop()

    def alerts(self, **labels: str) -> list[dict]:
        """Alertmanager's own view (GET /api/v2/alerts) of the alerts whose labels include `labels`."""
        found = requests.get(f"{self.url}/api/v2/alerts", timeout=5).json()
        return [a for a in found if all(a["labels"].get(k) == v for k, v in labels.items())]

    def _ready(self) -> bool:
        assert self.process.alive, f"Alertmanager exited:\n{self.process.log_tail()}"
        try:
            return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    """The session's Alertmanager (skips, or under CI fails, without the binary)."""
    binary = shutil.which(BINARY) or shutil.which("alertmanager")
    if binary is None:
        reason = f"`{BINARY}` is not installed (Debian: apt-get install {BINARY}, which `make sysdeps` does)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Alertmanager is required under CI: {reason}", pytrace=False)
        pytest.skip(f"Alertmanager unavailable: {reason}")
    webhook = WebhookReceiver().start()
    manager = Alertmanager(binary, tmp_path_factory.mktemp("alertmanager"), webhook).start()
    yield manager
    manager.stop()
    webhook.stop()
