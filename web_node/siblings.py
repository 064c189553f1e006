"""What one web node process knows of the others serving the same port (web_node/processes.py).

Each process has a `Role`: whether it writes, where the writer listens if it does not, and the
private runtime directory (0700, made by the parent) they share. Every process writes a small
status file there once a second; whichever process answers `/healthz` reads them all, so the
answer describes the whole web node. One process alone (WEB_NODE_PROCESSES=1, the tests'
in-process web nodes) has the default role: it writes, and has no siblings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

log = logging.getLogger(__name__)

BEAT_S = 1.0
STALE_S = 5.0  # a process whose status is older than this is taken for dead (its parent replaces it)
WRITER_SOCKET = "writer.sock"


@dataclass(frozen=True)
class Role:
    """One process's part: `index` among `count`; `writes`: it stores batches itself (else it
    forwards them to the writer's unix socket); `maintains`: it runs retention (one process)."""

    index: int = 0
    count: int = 1
    writes: bool = True
    maintains: bool = True
    runtime_dir: Path | None = None

    @property
    def name(self) -> str:
        if self.count == 1 or self.runtime_dir is None:
            return "server"
        return "writer" if self.writes else "reader"

    @property
    def writer_socket(self) -> Path | None:
        """The unix socket the writer serves batches on, for the processes that do not write."""
        return self.runtime_dir / WRITER_SOCKET if self.runtime_dir is not None else None


def status_path(runtime_dir: Path, index: int) -> Path:
    return runtime_dir / f"status-{index}.json"


def read_statuses(role: Role, live_clients: Callable[[], int]) -> list[dict]:
    """Every process's last status (this one's as of now), oldest beat marked not alive."""
    if role.runtime_dir is None:
        return [{"index": 0, "pid": os.getpid(), "role": role.name, "alive": True, "live_clients": live_clients()}]
    now = time.time()
    found = []
    for index in range(role.count):
        try:
            status = json.loads(status_path(role.runtime_dir, index).read_text())
        except (OSError, ValueError):
            found.append({"index": index, "pid": None, "role": None, "alive": False})
            continue
        alive = status.get("pid") == os.getpid() or now - float(status.get("beat", 0)) < STALE_S
        found.append(
            {
                "index": index,
                "pid": status.get("pid"),
                "role": status.get("role"),
                "alive": alive,
                "live_clients": status.get("live_clients", 0),
            }
        )
    return found


def _write_status(role: Role, live_clients: Callable[[], int]) -> None:
    assert role.runtime_dir is not None
    path = status_path(role.runtime_dir, role.index)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    status = {"pid": os.getpid(), "role": role.name, "beat": time.time(), "live_clients": live_clients()}
    temporary.write_text(json.dumps(status))
    temporary.replace(path)  # atomic: a reader never sees half a file


def status_ctx(role: Role, live_clients: Callable[[], int]) -> Callable[[web.Application], AsyncIterator[None]]:
    """cleanup_ctx: with siblings, beat this process's status file once a second."""

    async def beating(app: web.Application) -> AsyncIterator[None]:
        if role.runtime_dir is None:
            yield
            return
        _write_status(role, live_clients)
        task = asyncio.create_task(_beat(role, live_clients))
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    return beating


async def _beat(role: Role, live_clients: Callable[[], int]) -> None:
    while True:
        await asyncio.sleep(BEAT_S)
        try:
            _write_status(role, live_clients)
        except OSError as exc:  # the parent removed the directory: it is stopping us anyway
            log.warning("cannot write this process's status: %s", exc)
