"""`GET /healthz`: alive, and the database answers, within a deadline, whatever the read load.

The probe has a connection of its own (an engine with a pool of one), so it never queues behind
the read pool (30 wide `/api/v1/stats` queries used to hold /healthz 4-6 s, past the compose
health check's 3 s). It reads the fence row, so it touches the database file or server for real.
If the database does not answer within HEALTH_DEADLINE_S the answer is 503 with the reason.

A flood of probes cannot flip it: concurrent probes share the query in flight (single-flight),
each waiting for it up to its own deadline, so a busy but healthy database answers them all
200 with one query; a change of state is logged once, not once per request.

The answer describes the whole web node (web_node/siblings.py): its processes, and on SQLite
with several processes, 503 while the writer process is not running. Callers without a reader
token get only `{"status": ...}` when reads need one; the details (fence epoch, the driver's
error text, the processes) are for readers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from web_node.appkeys import health_probe_key, live_hub_key, role_key, settings_key
from web_node.auth import reader_key
from web_node.siblings import read_statuses
from web_node.storage_errors import StorageError, describe, storage_errors

log = logging.getLogger(__name__)

HEALTH_DEADLINE_S = 0.8  # well inside the compose health check's 3 s, with a TLS handshake
CONNECT_TIMEOUT_S = 5.0


class HealthProbe:
    """`check()`: the fence epoch if the database answered within the deadline, else why not."""

    def __init__(self, url: str, *, deadline_s: float = HEALTH_DEADLINE_S) -> None:
        self.deadline_s = deadline_s
        self._engine = _probe_engine(url)
        self._pending: asyncio.Task[int] | None = None
        self._problem: str | None = None  # the state last logged: None is healthy

    async def check(self) -> int | str:
        """The held epoch, or (a string) why the database is not usable."""
        if self._pending is None or self._pending.done():  # else share the query in flight
            self._pending = asyncio.create_task(self._query())
            self._pending.add_done_callback(_retrieve)
        try:
            return await asyncio.wait_for(asyncio.shield(self._pending), self.deadline_s)
        except TimeoutError:
            return f"the database did not answer within {self.deadline_s:g} s"
        except StorageError as exc:
            return f"the database is unreachable ({describe(exc)})"

    def note(self, problem: str | None) -> None:
        """Log a change of state (once, however many probes see it)."""
        if problem == self._problem:
            return
        if problem is None:
            log.info("health check: ok again")
        elif self._problem is None:
            log.warning("health check: %s", problem)
        self._problem = problem

    async def close(self) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
            await asyncio.wait({self._pending})
        await self._engine.dispose()

    async def _query(self) -> int:
        with storage_errors("read"):
            async with self._engine.connect() as conn:
                return (await conn.exec_driver_sql("SELECT epoch FROM grant_fence")).scalar_one()


def _probe_engine(url: str) -> AsyncEngine:
    if make_url(url).get_backend_name() == "sqlite":
        # a reader in WAL mode never waits for the writer; a locked file fails fast, not after 30 s
        return create_async_engine(url, pool_size=1, max_overflow=0, connect_args={"timeout": HEALTH_DEADLINE_S})
    return create_async_engine(
        url, pool_size=1, max_overflow=0, pool_pre_ping=True, connect_args={"timeout": CONNECT_TIMEOUT_S}
    )


def _retrieve(task: asyncio.Task[int]) -> None:
    # a probe that failed after its deadline was already answered 503; do not warn about it again
    if not task.cancelled():
        task.exception()


async def probe_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the probe's engine lives with the application."""
    probe = HealthProbe(app[settings_key].database_url)
    app[health_probe_key] = probe
    yield
    await probe.close()


async def healthz(request: web.Request) -> web.Response:
    probe = request.app[health_probe_key]
    checked = await probe.check()
    role = request.app[role_key]
    processes = read_statuses(role, request.app[live_hub_key].__len__)
    if isinstance(checked, str):
        body = {"status": "unavailable", "database": "unreachable", "reason": checked}
    elif not role.writes and (
        not any(p["alive"] and p["role"] == "writer" for p in processes) or not role.writer_socket.exists()
    ):
        body = {"status": "unavailable", "database": "ok", "reason": "the writer process is not running"}
    else:
        body = {"status": "ok", "database": "ok", "fence_epoch": checked}
    probe.note(body.get("reason"))
    status = 200 if body["status"] == "ok" else 503
    if request.app[settings_key].read_auth_required and request.get(reader_key) is None:
        return web.json_response({"status": body["status"]}, status=status)
    body["processes"] = processes
    return web.json_response(body, status=status)
