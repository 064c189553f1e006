"""`POST /api/v1/batches` on a process that does not write (SQLite, several processes): pass it on.

SQLite has one writer, so exactly one process stores batches; it also listens on a unix socket
in the web node's private runtime directory (0700). A batch that lands on another process is
sent there as it came — body, grant, content type — and the writer's answer is returned
unchanged: the grant, the fence and the idempotent insert are checked in one place, and a
worker cannot tell which process took its request. If the writer is down (being replaced after
a crash) the answer is 503 `storage_unavailable`: nothing was stored, and the worker retries.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from web_node.appkeys import change_feed_key, forward_session_key
from web_node.outage import storage_unavailable

log = logging.getLogger(__name__)

FORWARD_TIMEOUT_S = 120.0  # a batch the writer is storing is never cut short by the forwarder
PASSED_HEADERS = ("Authorization", "Content-Type", "Content-Encoding")


def forward_ctx(socket_path: Path) -> Callable[[web.Application], AsyncIterator[None]]:
    """cleanup_ctx: one client session on the writer's unix socket, for the application's life."""

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.UnixConnector(path=str(socket_path))
        timeout = aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_S)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
            app[forward_session_key] = session
            yield

    return session_ctx


async def forward_batch(request: web.Request) -> web.Response:
    """Hand the batch to the writer process and return its answer as it is."""
    body = await request.read()  # client_max_size bounds it here as on the writer
    headers = {name: request.headers[name] for name in PASSED_HEADERS if name in request.headers}
    headers["Host"] = request.host
    session = request.app[forward_session_key]
    try:
        async with session.post("http://writer/api/v1/batches", data=body, headers=headers) as answer:
            payload = await answer.read()
            if answer.status == 200:  # stored: this process's live clients get it now, not at the next poll
                request.app[change_feed_key].wake()
            return web.Response(
                status=answer.status,
                body=payload,
                headers={"Content-Type": answer.headers.get("Content-Type", "application/json")},
            )
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        log.warning("the writer process did not take a batch: %s", exc)
        raise storage_unavailable("the web node's writer process is not answering; nothing was stored") from None
