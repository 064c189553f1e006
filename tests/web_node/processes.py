"""A real `python -m web_node` with several processes on one loopback port, for the tests.

The web node runs as users run it: a parent that migrates the database and supervises
WEB_NODE_PROCESSES children (web_node/processes.py). Readings go in only through
`POST /api/v1/batches`, as a worker sends them: a batch that gets no answer, or 503, is sent
again (the same readings, the same grant) until it is answered 200.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import aiohttp
import requests

from protocol.grants import Grant, GrantCodec
from testkit.integrity import stored_counter
from testkit.processes import ManagedProcess, child_env, free_port, python_argv, wait_healthy
from tests.support.waiting import eventually
from tests.support.web import TEST_RETENTION

RETRY_DEADLINE_S = 60.0


class ProcessesNode:
    """`python -m web_node` on `database_url` with `processes` children; `env`: more settings."""

    def __init__(self, workdir: Path, database_url: str, processes: int, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.key = f"processes-test-key-{os.getpid()}-{self.port}".ljust(43, "0")
        self.env = child_env(
            {
                "DATABASE_URL": database_url,
                "WEB_NODE_HOST": "127.0.0.1",
                "WEB_NODE_PORT": str(self.port),
                "WEB_NODE_PROCESSES": str(processes),
                "TELERING_GRANT_KEYS": self.key,
                "READINGS_PARTITIONS": "4",
                "TELERING_RETENTION_RAW": TEST_RETENTION,
                "TELERING_RETENTION_ROLLUPS": TEST_RETENTION,
                **env,
            }
        )
        self.proc = ManagedProcess("web", python_argv("web_node"), self.env, workdir / "web.log")

    def start(self) -> ProcessesNode:
        self.proc.start()
        try:
            wait_healthy(self.url, self.proc, timeout=90)  # each child imports the web node anew (spawn)
            eventually(lambda: all(p["alive"] for p in self.processes_now()), timeout=60, message="not all up")
        except BaseException:
            self.proc.stop()  # never leave a web node serving after a failed start
            raise
        return self

    def processes_now(self) -> list[dict]:
        return requests.get(f"{self.url}/healthz", timeout=5).json()["processes"]

    def stop(self) -> int | None:
        return self.proc.stop()

    def grant(self, receiver: int = 0, epoch: int = 1) -> str:
        return GrantCodec([self.key]).sign(Grant(receiver, epoch, time.time() + 30))

    async def processes(self) -> list[dict]:
        """The children as /healthz describes them (reads are open on loopback)."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/healthz") as answer:
            return (await answer.json())["processes"]

    async def kill_child(self, index: int) -> int:
        """`kill -9` the child at `index`; its pid."""
        pid = next(p["pid"] for p in await self.processes() if p["index"] == index)
        os.kill(pid, signal.SIGKILL)
        return pid

    async def scrape(self) -> str:
        """/metrics on a connection of its own (so the kernel may pick any process)."""
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http, http.get(f"{self.url}/metrics") as answer:
            assert answer.status == 200
            return await answer.text()

    async def stored_counter(self) -> int:
        return stored_counter(await self.scrape())


async def post_until_stored(node: ProcessesNode, readings: list[dict], epoch: int = 1) -> dict:
    """POST one batch as a worker would (receiver 0's, under a grant of `epoch`): again after a
    dropped connection or a 503, until 200."""
    deadline = time.monotonic() + RETRY_DEADLINE_S
    connector = aiohttp.TCPConnector(force_close=True)  # a new connection, so any process, each time
    async with aiohttp.ClientSession(connector=connector) as http:
        while True:
            try:
                async with http.post(
                    f"{node.url}/api/v1/batches",
                    json={"readings": readings},
                    headers={"Authorization": f"Bearer {node.grant(0, epoch)}"},
                ) as answer:
                    body = await answer.json()
                    if answer.status == 200:
                        return body
                    assert answer.status == 503, (answer.status, body)
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError):
                pass  # the process that had it was killed: the worker retries the same chunk
            assert time.monotonic() < deadline, "a batch was not stored within its retry deadline"
            await asyncio.sleep(0.2)  # the worker's retry back-off, not a synchronisation
