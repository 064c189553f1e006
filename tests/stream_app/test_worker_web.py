"""The worker's own web server (Faust's, on a real loopback port, no broker needed to serve):
/healthz and /metrics only; Faust's /router/ and /table/ answer 404. And the worker warns when it
would post grants over plain HTTP off the machine."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from protocol.settings import Settings
from stream_app.app import build_app
from stream_app.web_client import open_session

KEY = "k" * 43


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_only_healthz_and_metrics_are_served():
    port = free_port()
    app = build_app(Settings(TELERING_GRANT_KEYS=KEY, WORKER_WEB_PORT=port))
    app.is_leader = lambda: False  # no consumer group joined: nobody leads
    await app.web.start()
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/router/", "/router", "/table/", "/table/anything/"):
                async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
                    assert resp.status == 404, path
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 503 and (await resp.json())["checks"]["running"] is False  # not started
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200 and "telering_worker_readings_dead_lettered_total" in await resp.text()
    finally:
        await app.web.stop()


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://web-node:8080", True),
        ("http://192.0.2.10:8080", True),
        ("https://web-node:8080", False),
        ("http://127.0.0.1:8080", False),
        ("http://localhost:8080", False),
        ("http://[::1]:8080", False),
    ],
)
async def test_plain_http_off_loopback_draws_a_warning(url, warned, caplog):
    with caplog.at_level("WARNING", logger="stream_app.web_client"):
        async with open_session(Settings(WEB_NODE_URL=url)):
            pass
    assert ("plain HTTP off this machine" in caplog.text) is warned
