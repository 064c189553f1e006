"""The web node's application factory: `create_app(settings)`; nothing is created at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from protocol.grants import GrantCodec
from protocol.keys import fingerprint, load_keys
from protocol.settings import Settings
from web_node.batches import batch_observers_key, stored_listeners_key
from web_node.errors import json_errors
from web_node.keys import codec_key, settings_key, storage_key
from web_node.routes import setup_routes
from web_node.storage import Storage

log = logging.getLogger("web_node")

BYTES_PER_READING = 400


def create_app(settings: Settings, *, keys: list[str] | None = None) -> web.Application:
    """Build the application; the database opens on start-up and closes on clean-up."""
    keys = keys if keys is not None else load_keys(settings)
    max_body = max(1 << 20, settings.batch_max_readings * BYTES_PER_READING)
    app = web.Application(middlewares=[json_errors], client_max_size=max_body)
    app[settings_key] = settings
    app[codec_key] = GrantCodec(keys)
    app[stored_listeners_key] = []
    app[batch_observers_key] = []
    app.cleanup_ctx.append(_storage_ctx)
    setup_routes(app)
    log.info("grant keys: %s (newest last)", ", ".join(fingerprint(k) for k in keys))
    return app


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    storage = Storage(app[settings_key].database_url)
    await storage.open()
    app[storage_key] = storage
    yield
    await storage.close()
