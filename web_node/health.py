"""`GET /healthz`: alive, and the database answers."""

from __future__ import annotations

import logging

from aiohttp import web

from web_node.appkeys import storage_key

log = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    storage = request.app[storage_key]
    try:
        await storage.ping()
    except Exception as exc:  # any driver error means "not ready", reported, not raised
        log.warning("health check: database unreachable: %s", exc)
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok", "fence_epoch": storage.fence_epoch})
