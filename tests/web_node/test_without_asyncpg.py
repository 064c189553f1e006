"""The web node installed without the `postgres` extra: it serves on SQLite, and a PostgreSQL
DATABASE_URL is a start-up error naming the extra.

Each case runs `python -m web_node` in a child process where `import asyncpg` fails (the module
is blocked through `sys.modules`, as if it were not installed); the SQLite one serves a real
file on a loopback port and stores a batch under a grant.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from protocol.grants import Grant, GrantCodec
from testkit.processes import ManagedProcess, child_env, free_port, wait_healthy
from tests.support.web import make_reading

KEY = "without-asyncpg-test-key".ljust(43, "0")
# `python -m web_node ARGS` with asyncpg made unimportable first
WITHOUT_ASYNCPG = [
    sys.executable,
    "-c",
    "import runpy, sys; sys.modules['asyncpg'] = None; runpy.run_module('web_node', run_name='__main__')",
]


@pytest.mark.parametrize("command", [[], ["migrate"], ["--no-migrate"]])
def test_a_postgresql_url_without_asyncpg_is_one_line_naming_the_extra(tmp_path: Path, command: list[str]):
    env = child_env({"DATABASE_URL": "postgresql+asyncpg://telering@127.0.0.1:9/telering", "TELERING_GRANT_KEYS": KEY})
    done = subprocess.run([*WITHOUT_ASYNCPG, *command], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "asyncpg" in lines[0] and "pip install 'telering[postgres]'" in lines[0]


def test_the_web_node_serves_and_stores_on_sqlite_without_asyncpg(tmp_path: Path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = child_env(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'telering.db'}",
            "WEB_NODE_HOST": "127.0.0.1",
            "WEB_NODE_PORT": str(port),
            "TELERING_GRANT_KEYS": KEY,
            "WEB_NODE_CHECK_PARTITION": "false",
        }
    )
    node = ManagedProcess("web", WITHOUT_ASYNCPG, env, tmp_path / "web.log").start()
    try:
        wait_healthy(url, node)
        grant = GrantCodec([KEY]).sign(Grant(0, 1, time.time() + 30))
        answer = requests.post(
            f"{url}/api/v1/batches",
            json={"readings": [make_reading("no-asyncpg", seq) for seq in range(3)]},
            headers={"Authorization": f"Bearer {grant}"},
            timeout=30,
        )
        assert (answer.status_code, answer.json()["stored"]) == (200, 3), answer.text
        latest = requests.get(f"{url}/api/v1/readings/latest", timeout=30).json()["readings"]
        assert sorted(r["seq"] for r in latest) == [0, 1, 2]
    finally:
        node.stop()
    assert "asyncpg" not in node.log_text(), node.log_text()
