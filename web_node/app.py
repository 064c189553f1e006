"""The web node's application factory: `create_app(settings)`; nothing is created at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from protocol.keyring import Keyring
from protocol.keys import fingerprint
from protocol.readings import max_batch_bytes
from protocol.settings import Settings
from web_node import appkeys
from web_node.alerts.live import AlertHub
from web_node.alerts.service import LIVE_QUEUE
from web_node.alerts.wiring import judge_of, setup_alerts
from web_node.auth import reader_auth
from web_node.errors import json_errors
from web_node.guards import request_guard, security_headers
from web_node.health import probe_ctx
from web_node.metrics import Metrics
from web_node.outage import StorageOutage, storage_outages
from web_node.read.changes import alert_feed_ctx, change_feed_ctx
from web_node.read.live import LiveHub
from web_node.read.live import shutdown as close_live_clients
from web_node.read.live_limits import LiveLimits
from web_node.read.queries import limit_reads
from web_node.read.stats_cache import stats_cache_ctx
from web_node.routes import setup_routes
from web_node.siblings import Role, status_ctx
from web_node.write.batches import post_batch
from web_node.write.forward import forward_batch, forward_ctx
from web_node.write.placement import Placement
from web_node.write.retention import retention_ctx
from web_node.write.storage import Storage

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, *, keys: list[str] | None = None, migrate: bool = True, role: Role | None = None
) -> web.Application:
    """Build the application; the database opens on start-up and closes on clean-up. `role`: this
    process's part among several (web_node/processes.py); by default the one process does all."""
    role = role or Role()
    keyring = Keyring(keys) if keys is not None else Keyring.from_settings(settings)
    max_body = max_batch_bytes(settings.batch_max_readings)
    auth = reader_auth(settings)  # reader tokens on reads (web_node/auth.py); None if reads are open
    app = web.Application(
        # the Host / Origin guard first: a request for another name reaches nothing else
        middlewares=[request_guard(settings), json_errors, storage_outages, *([auth] if auth else [])],
        client_max_size=max_body,
        # aiohttp closes a connection still waiting for a complete request this long after it opened
        # or answered the last one (its keep-alive timer): WEB_NODE_HEADER_TIMEOUT_S, whatever runs the app
        handler_args={"keepalive_timeout": settings.web_node_header_timeout_s},
    )
    app[appkeys.settings_key] = settings
    app[appkeys.keyring_key] = keyring
    # a live client may fall two full batches behind before it is dropped
    hub = LiveHub(queue_size=2 * settings.batch_max_readings)
    placement = Placement(settings.readings_partitions, enabled=settings.web_node_check_partition)
    app[appkeys.live_hub_key] = hub
    app[appkeys.placement_key] = placement
    app[appkeys.storage_outage_key] = StorageOutage()
    app[appkeys.metrics_key] = Metrics(hub, placement)
    app[appkeys.role_key] = role
    limits = LiveLimits(settings.web_node_live_max_per_reader, settings.web_node_live_max, role.runtime_dir)
    app[appkeys.live_limits_key] = limits
    app.cleanup_ctx.append(_storage_ctx(migrate))
    app.cleanup_ctx.append(probe_ctx)  # /healthz's own connection, not the read pool's
    app.cleanup_ctx.append(change_feed_ctx)  # after the storage: it reads the new rows
    if role.maintains:
        app.cleanup_ctx.append(retention_ctx)  # after the storage: it deletes through its writer
    if not role.writes:
        app.cleanup_ctx.append(forward_ctx(role.writer_socket))
    app.cleanup_ctx.append(status_ctx(role, hub.__len__))
    # TELERING_ALERT_RULES: rules judged in the store transaction (web_node/alerts); its timers and
    # sinks run where batches are stored
    setup_alerts(app, runs=role.writes)
    if role.count > 1 and appkeys.alerts_key in app:
        # each process's alert sockets follow the transitions table, whichever process recorded them
        alert_hub = AlertHub(queue_size=LIVE_QUEUE)
        app[appkeys.alert_hub_key] = alert_hub
        app.cleanup_ctx.append(alert_feed_ctx(alert_hub))
    app.cleanup_ctx.append(stats_cache_ctx)  # polls the change marks through the reader pool
    app.on_shutdown.append(close_live_clients)
    app.on_response_prepare.append(security_headers)
    setup_routes(app, batches=post_batch if role.writes else forward_batch)
    log.info("grant keys: %s (newest last)", ", ".join(fingerprint(k) for k in keyring.keys))
    return app


def _storage_ctx(migrate: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    """cleanup_ctx: the storage opens (migrating the schema, or checking it is current) on
    start-up and closes on clean-up."""

    async def storage_ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[appkeys.settings_key]
        storage = Storage(settings.database_url, alerts=judge_of(app))
        limit_reads(storage.reader, settings.web_node_statement_timeout_s)
        await storage.open(migrate=migrate)
        app[appkeys.storage_key] = storage
        yield
        await storage.close()

    return storage_ctx
