"""The web node's application factory: `create_app(settings)`; nothing is created at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from protocol.keyring import Keyring
from protocol.keys import fingerprint
from protocol.readings import max_batch_bytes
from protocol.settings import Settings
from web_node.alerts.wiring import judge_of, setup_alerts
from web_node.appkeys import keyring_key, settings_key, storage_key
from web_node.auth import reader_auth
from web_node.batches import batch_observers_key, stored_listeners_key
from web_node.errors import json_errors
from web_node.health import probe_ctx
from web_node.live import LiveHub, live_hub_key
from web_node.live import shutdown as close_live_clients
from web_node.metrics import Metrics, metrics_key
from web_node.outage import StorageOutage, storage_errors, storage_outage_key
from web_node.placement import Placement, placement_key
from web_node.retention import retention_ctx
from web_node.routes import setup_routes
from web_node.storage import Storage

log = logging.getLogger(__name__)
migrate_key = web.AppKey("migrate", bool)


def create_app(settings: Settings, *, keys: list[str] | None = None, migrate: bool = True) -> web.Application:
    """Build the application; the database opens on start-up and closes on clean-up."""
    keyring = Keyring(keys) if keys is not None else Keyring.from_settings(settings)
    max_body = max_batch_bytes(settings.batch_max_readings)
    auth = reader_auth(settings)  # reader tokens on reads (web_node/auth.py); None if reads are open
    app = web.Application(
        middlewares=[json_errors, storage_errors, *([auth] if auth else [])],
        client_max_size=max_body,
        # aiohttp closes a connection still waiting for a complete request this long after it opened
        # or answered the last one (its keep-alive timer): WEB_NODE_HEADER_TIMEOUT_S, whatever runs the app
        handler_args={"keepalive_timeout": settings.web_node_header_timeout_s},
    )
    app[settings_key] = settings
    app[keyring_key] = keyring
    # a live client may fall two full batches behind before it is dropped
    hub = LiveHub(queue_size=2 * settings.batch_max_readings)
    placement = Placement(settings.readings_partitions, enabled=settings.check_partition)
    metrics = Metrics(hub, placement)
    app[live_hub_key] = hub
    app[placement_key] = placement
    app[storage_outage_key] = StorageOutage()
    app[metrics_key] = metrics
    app[stored_listeners_key] = [hub.publish]
    app[batch_observers_key] = [metrics.observe_batch]
    app[migrate_key] = migrate
    app.cleanup_ctx.append(_storage_ctx)
    app.cleanup_ctx.append(probe_ctx)  # /healthz's own connection, not the read pool's
    app.cleanup_ctx.append(retention_ctx)  # after the storage: it deletes through its writer
    setup_alerts(app)  # TELERING_ALERT_RULES: rules judged in the store transaction (web_node/alerts)
    app.on_shutdown.append(close_live_clients)
    setup_routes(app)
    log.info("grant keys: %s (newest last)", ", ".join(fingerprint(k) for k in keyring.keys))
    return app


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    storage = Storage(app[settings_key].database_url, alerts=judge_of(app))
    await storage.open(migrate=app[migrate_key])
    app[storage_key] = storage
    yield
    await storage.close()
