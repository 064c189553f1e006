"""A database that cannot be used: 503 `storage_unavailable` with Retry-After, never a 500; then
back, nothing lost, nothing doubled (issue 11, web node edges).

Needs, for real: a PostgreSQL server of its own (tests/support/postgres.py's `start_cluster`),
stopped and started again under a running web node; and a SQLite file on a tiny tmpfs (root:
`mount -t tmpfs`), filled until the disk is full, then emptied. The worker's client
(stream_app.web_client) is what posts, so its reading of a 503 as "retry" is checked too.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from protocol.readings import Reading
from stream_app.web_client import WebNodeClient, WebNodeUnavailable
from tests.support.postgres import PostgresUnavailable, start_cluster
from tests.support.waiting import async_eventually
from tests.support.web import make_reading, sensors_of_receiver
from web_node.appkeys import storage_key


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """These tests make their own databases (not the suite's two backends)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"


@pytest.fixture
def own_postgres() -> Iterator:
    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (root only), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(path: Path) -> None:
    """Write `path` until its filesystem has not one byte left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 << 16, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
    finally:
        os.close(fd)


def batch(sensor: str, seqs: range) -> list[bytes]:
    return [json.dumps(make_reading(sensor, seq)).encode() for seq in seqs]


async def count_rows(node) -> int:
    async with node.app[storage_key].reader.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(Reading))).scalar_one()


async def expect_503(http: aiohttp.ClientSession, node, client: WebNodeClient, grant: str, raws: list[bytes]) -> None:
    with pytest.raises(WebNodeUnavailable, match="503"):  # the worker's client: retry, settle nothing
        await client.post(grant, 0, raws)
    headers = {"Authorization": f"Bearer {grant}", "Content-Type": "application/json"}
    body = b'{"receiver":0,"readings":[' + b",".join(raws) + b"]}"
    async with http.post(f"{node.url}/api/v1/batches", data=body, headers=headers) as r:
        assert (r.status, r.headers.get("Retry-After")) == (503, "1")
        answer = await r.json()
    assert answer["error"] == "storage_unavailable" and "retry" in answer["detail"]
    assert "INSERT" not in answer["detail"]  # no SQL, no parameters


def storage_log(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "web_node.outage"]


def check_outage_logged(caplog, path: str, failures: int) -> None:
    """`failures` one-line records for `path`, one traceback among them, and the end of the outage said."""
    records = storage_log(caplog)
    failed = [r for r in records if f"unavailable ({path})" in r.getMessage()]
    assert len(failed) == failures
    assert sum(r.exc_info is not None for r in failed) == 1  # one traceback per outage, not per batch
    assert any(f"available again ({path})" in r.getMessage() for r in records)


async def test_postgres_stopped_then_started(web_node_factory, http, own_postgres, caplog):
    caplog.set_level(logging.INFO, logger="web_node.outage")
    name = own_postgres.create_database()
    node = await web_node_factory(database_url=own_postgres.url(name))
    client = WebNodeClient(node.url, http, timeout_s=20)
    sensor = sensors_of_receiver(0)[0]
    first = await client.post(node.grant(0, 1), 0, batch(sensor, range(100)))
    assert (first.status, first.stored) == (200, 100)

    own_postgres.stop_server()
    second = batch(sensor, range(100, 300))
    await expect_503(http, node, client, node.grant(0, 2), second)
    await expect_503(http, node, client, node.grant(0, 2), second)
    for path in ("/api/v1/sensors", "/api/v1/readings/latest", "/api/v1/stats"):
        async with http.get(f"{node.url}{path}") as r:
            assert (r.status, (await r.json())["error"], r.headers.get("Retry-After")) == (
                503,
                "storage_unavailable",
                "1",
            ), path
    async with http.get(f"{node.url}/healthz") as r:
        assert (r.status, (await r.json())["database"]) == (503, "unreachable")
    own_postgres.start_server()

    async def stored_again():
        try:
            return await client.post(node.grant(0, 2), 0, second)
        except WebNodeUnavailable:  # the pool may hand out a connection cut by the stop once more
            return None

    again = await async_eventually(stored_again, timeout=60)
    assert (again.status, again.stored, again.duplicates) == (200, 200, 0)
    replay = await client.post(node.grant(0, 3), 0, [*batch(sensor, range(50)), *second])
    assert (replay.status, replay.stored, replay.duplicates) == (200, 0, 250)
    assert await count_rows(node) == 300  # sent = stored: nothing lost, nothing doubled
    async with http.get(f"{node.url}/api/v1/sensors") as r:
        assert r.status == 200
    async with http.get(f"{node.url}/healthz") as r:
        assert r.status == 200
    write_failures = len([r for r in storage_log(caplog) if "unavailable (write)" in r.getMessage()])
    assert write_failures >= 4  # 4 posts while stopped, and any retry that met a cut connection
    check_outage_logged(caplog, "write", write_failures)
    check_outage_logged(caplog, "read", 3)


async def test_sqlite_disk_full_then_freed(web_node_factory, http, tiny_disk, caplog):
    caplog.set_level(logging.INFO, logger="web_node.outage")
    node = await web_node_factory(database_url=f"sqlite+aiosqlite:///{tiny_disk / 'telering.db'}")
    client = WebNodeClient(node.url, http, timeout_s=20)
    sensor = sensors_of_receiver(0)[0]
    assert (await client.post(node.grant(0, 1), 0, batch(sensor, range(10)))).stored == 10

    filler = tiny_disk / f"filler-{uuid.uuid4().hex}"
    fill(filler)
    big = batch(sensor, range(10, 5010))  # ~1 MB of pages: more than the WAL holds already
    await expect_503(http, node, client, node.grant(0, 2), big)
    await expect_503(http, node, client, node.grant(0, 2), big)
    filler.unlink()

    again = await client.post(node.grant(0, 2), 0, big)
    assert (again.status, again.stored, again.duplicates) == (200, 5000, 0)
    replay = await client.post(node.grant(0, 3), 0, big[:100])
    assert (replay.status, replay.stored, replay.duplicates) == (200, 0, 100)
    assert await count_rows(node) == 5010
    check_outage_logged(caplog, "write", 4)
