"""Files fail closed, on a real web node: its SQLite database, WAL and SHM are its owner's only;
a readers file that disappears admits nobody until it is back; a grant key or TLS key open to
others stops `python -m web_node` (exit 2, naming the `chmod`); plain HTTP off loopback warns."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from protocol import reader_tokens
from protocol.keys import add_key
from testkit.pipeline import WebTls
from tests.support.waiting import async_eventually
from tests.support.web import make_reading, sensors_of_receiver, store
from web_node.app import create_app

SQLITE_FILES = ("telering.db", "telering.db-wal", "telering.db-shm")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'telering.db'}"


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems run services with: new files 0644 unless created otherwise."""
    before = os.umask(0o022)
    yield
    os.umask(before)


async def test_the_database_its_wal_and_shm_are_created_owner_only(web_node_factory, http, tmp_path, usual_umask):
    node = await web_node_factory()
    (sensor,) = sensors_of_receiver(0, n=1)
    await store(http, node, [make_reading(sensor, seq) for seq in range(3)])
    for name in SQLITE_FILES:
        assert mode(tmp_path / name) == 0o600, name


async def test_an_existing_database_open_to_others_is_narrowed(web_node_factory, tmp_path, usual_umask, caplog):
    first = await web_node_factory()
    await first.runner.cleanup()
    (tmp_path / "telering.db").chmod(0o644)
    with caplog.at_level("WARNING", logger="web_node.write.sqlite_files"):
        await web_node_factory()
    assert mode(tmp_path / "telering.db") == 0o600
    assert "had mode 644" in caplog.text


def run_web_node(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m web_node …` as an operator runs it, in tmp_path, under the usual umask."""
    environ = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'telering.db'}",
        "TELERING_KEYS_FILE": str(tmp_path / "telering.keys"),
        "WEB_NODE_PORT": "1",  # never reached: each run here ends before it listens
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "web_node", *argv],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(0o022),
    )


def test_migrate_creates_the_database_owner_only(tmp_path):
    done = run_web_node(tmp_path, "migrate")
    assert done.returncode == 0, done.stderr
    assert mode(tmp_path / "telering.db") == 0o600


def test_a_grant_key_file_open_to_others_stops_the_web_node(tmp_path):
    keys = tmp_path / "telering.keys"
    add_key(keys)
    keys.chmod(0o644)
    done = run_web_node(tmp_path)
    assert done.returncode == 2
    assert f"`chmod 600 {keys}`" in done.stderr and "644" in done.stderr
    assert not (tmp_path / "telering.db").exists()  # refused before anything was created


def test_a_tls_key_open_to_others_stops_the_web_node(tmp_path):
    add_key(tmp_path / "telering.keys")
    tls = WebTls.make(tmp_path / "tls")
    tls.key_file.chmod(0o640)
    done = run_web_node(tmp_path, WEB_NODE_TLS_CERT=str(tls.cert_file), WEB_NODE_TLS_KEY=str(tls.key_file))
    assert done.returncode == 2
    assert "WEB_NODE_TLS_KEY" in done.stderr and f"`chmod 600 {tls.key_file}`" in done.stderr


async def test_a_readers_file_that_disappears_admits_nobody_until_it_is_back(web_node_factory, tmp_path, caplog):
    readers_file = tmp_path / "telering.readers"
    token = reader_tokens.add_reader(readers_file, "alice")
    node = await web_node_factory(web_node_read_auth="required", telering_readers_file=readers_file)
    headers = {"Authorization": f"Bearer {token}"}

    async def status() -> int:
        async with aiohttp.ClientSession() as http, http.get(f"{node.url}/api/v1/sensors", headers=headers) as resp:
            return resp.status

    assert await status() == 200
    kept = readers_file.read_text()
    with caplog.at_level(logging.ERROR, logger="protocol.reader_tokens"):
        readers_file.unlink()
        await async_eventually(lambda: status_is(status, 401), timeout=10)
        for _ in range(5):
            assert await status() == 401
    assert caplog.text.count("no reader token is valid") == 1
    readers_file.write_text(kept)
    readers_file.chmod(0o600)
    await async_eventually(lambda: status_is(status, 200), timeout=10)


async def status_is(status, expected: int) -> bool:
    return await status() == expected


def test_plain_http_off_loopback_warns_at_start_up(web_settings, caplog):
    with caplog.at_level(logging.WARNING, logger="web_node.guards"):
        create_app(web_settings(web_node_host="192.0.2.1", web_node_read_auth="off"), keys=["k" * 43])
    assert "serving plain HTTP on 192.0.2.1" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="web_node.guards"):
        create_app(web_settings(), keys=["k" * 43])
    assert "plain HTTP" not in caplog.text
