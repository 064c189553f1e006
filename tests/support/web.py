"""Fixtures for a real web node on a loopback port, in the test's own event loop."""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from protocol.grants import Grant, GrantCodec
from protocol.partitioning import partition_for
from protocol.settings import Settings
from web_node.app import create_app

TEST_RETENTION = "36500d"  # a century


@dataclass
class RunningWebNode:
    url: str
    app: web.Application
    settings: Settings
    keys: list[str]
    runner: web.AppRunner

    def grant(self, receiver: int = 0, epoch: int = 1, ttl: float = 30.0, keys: list[str] | None = None) -> str:
        app = self.settings.telering_app_id
        return GrantCodec(keys or self.keys).sign(Grant(receiver, epoch, time.time() + ttl, app))


@pytest.fixture
def web_settings(tmp_path: Path, database_url: str) -> Callable[..., Settings]:
    """Factory: settings for a test web node on a fresh database (`database_url`: SQLite and
    PostgreSQL, see tests/support/postgres.py)."""

    def make(**overrides: object) -> Settings:
        values = {
            "database_url": database_url,
            "web_node_host": "127.0.0.1",
            "web_node_port": 0,
            "readings_partitions": 4,
            "telering_keys_file": tmp_path / "absent.keys",
            "telering_grant_keys": None,
            # tests store readings of any age (2025, 1960): the web node's retention keeps them
            # unless a test asks for less (tests/web_node/test_retention.py)
            "telering_retention_raw": TEST_RETENTION,
            "telering_retention_rollups": TEST_RETENTION,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
async def web_node_factory(web_settings) -> AsyncIterator[Callable[..., RunningWebNode]]:
    """Factory: start a real web node (aiohttp server on 127.0.0.1, random port); with
    `ssl_context` (e.g. web_node.tls.server_ssl_context) it serves HTTPS."""
    started: list[web.AppRunner] = []

    async def start(
        keys: list[str] | None = None, *, ssl_context: ssl.SSLContext | None = None, **overrides: object
    ) -> RunningWebNode:
        settings = web_settings(**overrides)
        keys = keys or ["test-key-one"]
        app = create_app(settings, keys=keys)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        started.append(runner)
        port = site._server.sockets[0].getsockname()[1]
        scheme = "https" if ssl_context else "http"
        return RunningWebNode(f"{scheme}://127.0.0.1:{port}", app, settings, keys, runner)

    yield start
    for runner in reversed(started):
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def store(http: aiohttp.ClientSession, node: RunningWebNode, readings: list[dict], epoch: int = 1) -> None:
    """POST `readings` with a grant of receiver 0; the web node must store them (200)."""
    async with http.post(
        f"{node.url}/api/v1/batches",
        json={"readings": readings},
        headers={"Authorization": f"Bearer {node.grant(0, epoch)}"},
    ) as answer:
        assert answer.status == 200, await answer.text()


def make_reading(sensor_id: str = "sensor-1", seq: int = 0, **overrides: object) -> dict:
    """A valid reading as JSON-ready dict."""
    ts = datetime.now(UTC) - timedelta(seconds=1)
    reading = {
        "sensor_id": sensor_id,
        "seq": seq,
        "ts": ts.isoformat().replace("+00:00", "Z"),
        "temperature": 21.5,
        "humidity": 45.0,
        "pressure": 1013.2,
        "battery": 88.0,
    }
    reading.update(overrides)
    return reading


def sensors_of_receiver(receiver: int, partitions: int = 4, n: int = 3, prefix: str = "sensor-") -> list[str]:
    """`n` sensor ids whose readings land in partition `receiver`."""
    found, i = [], 0
    while len(found) < n:
        sid = f"{prefix}{i}"
        if partition_for(sid, partitions) == receiver:
            found.append(sid)
        i += 1
    return found
