"""`GET /healthz`: alive, and the database answers, within a deadline, whatever the read load.

The probe has a connection of its own (an engine with a pool of one), so it never queues behind
the read pool (30 wide `/api/v1/stats` queries used to hold /healthz 4-6 s, past the compose
health check's 3 s). It reads the fence row, so it touches the database file or server for real.
If the database does not answer within HEALTH_DEADLINE_S the answer is 503 with the reason; the
query is left to finish in the background, and until it does every probe answers 503 at once
rather than piling more queries onto a database that is not answering.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from web_node.appkeys import health_probe_key, settings_key, storage_key
from web_node.storage_errors import StorageError, describe, storage_errors

log = logging.getLogger(__name__)

HEALTH_DEADLINE_S = 0.8  # well inside the compose health check's 3 s, with a TLS handshake
CONNECT_TIMEOUT_S = 5.0


class HealthProbe:
    """`check()`: None if the database answered within the deadline, else why not."""

    def __init__(self, url: str, *, deadline_s: float = HEALTH_DEADLINE_S) -> None:
        self.deadline_s = deadline_s
        self._engine = _probe_engine(url)
        self._pending: asyncio.Task[None] | None = None

    async def check(self) -> str | None:
        if self._pending is not None and not self._pending.done():
            return f"the previous health query has not answered yet (deadline {self.deadline_s:g} s)"
        self._pending = task = asyncio.create_task(self._query())
        task.add_done_callback(_retrieve)
        try:
            await asyncio.wait_for(asyncio.shield(task), self.deadline_s)
        except TimeoutError:
            return f"the database did not answer within {self.deadline_s:g} s"
        except StorageError as exc:
            return f"the database is unreachable ({describe(exc)})"
        return None

    async def close(self) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
            await asyncio.wait({self._pending})
        await self._engine.dispose()

    async def _query(self) -> None:
        with storage_errors("read"):
            async with self._engine.connect() as conn:
                await conn.exec_driver_sql("SELECT epoch FROM grant_fence")


def _probe_engine(url: str) -> AsyncEngine:
    if make_url(url).get_backend_name() == "sqlite":
        # a reader in WAL mode never waits for the writer; a locked file fails fast, not after 30 s
        return create_async_engine(url, pool_size=1, max_overflow=0, connect_args={"timeout": HEALTH_DEADLINE_S})
    return create_async_engine(
        url, pool_size=1, max_overflow=0, pool_pre_ping=True, connect_args={"timeout": CONNECT_TIMEOUT_S}
    )


def _retrieve(task: asyncio.Task[None]) -> None:
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
    problem = await request.app[health_probe_key].check()
    if problem is not None:
        log.warning("health check: %s", problem)
        return web.json_response({"status": "unavailable", "database": "unreachable", "reason": problem}, status=503)
    storage = request.app[storage_key]
    return web.json_response({"status": "ok", "database": "ok", "fence_epoch": storage.fence_epoch})
