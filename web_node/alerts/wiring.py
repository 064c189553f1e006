"""How alerting plugs into the web node: built from settings, run in the app's cleanup_ctx."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from protocol.settings import Settings
from protocol.topics import Topics
from web_node.alerts import silent, views
from web_node.alerts.alertmanager import AlertmanagerSink
from web_node.alerts.kafka_sink import KafkaSink
from web_node.alerts.live import AlertHub, alerts_live
from web_node.alerts.outbox import Outbox, PublisherLock
from web_node.alerts.service import Alerts
from web_node.appkeys import alert_hub_key, alerts_key, metrics_key, settings_key, storage_key

log = logging.getLogger(__name__)
LOCK_RETRY_S = 2.0  # another web node publishes: try to take over this often


def setup_alerts(app: web.Application, *, runs: bool = True) -> None:
    """Routes always (empty answers when alerting is off); the service only with TELERING_ALERT_RULES.
    A bad rules file raises RulesError here: the caller's start-up error. `runs=False` (a web node
    process that does not store, web_node/processes.py): the rules for the views, but the timers
    and sinks run in the process that stores."""
    settings = app[settings_key]
    app.router.add_get("/api/v1/alerts", views.current)
    app.router.add_get("/api/v1/alerts/history", views.history)
    app.router.add_get("/api/v1/alerts/rules", views.rules)
    app.router.add_get("/api/v1/alerts/live", alerts_live)
    if settings.telering_alert_rules is None:
        app[alert_hub_key] = AlertHub(queue_size=1)  # nobody publishes to it: the socket stays quiet
        return
    alerts = Alerts(settings.telering_alert_rules, app[metrics_key].registry)
    app[alerts_key] = alerts
    app[alert_hub_key] = alerts.hub
    app.on_shutdown.append(_close_sockets)
    if runs:
        app.cleanup_ctx.append(_alerts_ctx)


def judge_of(app: web.Application):
    """The judge the storage runs in each batch's transaction (None: alerting is off)."""
    alerts = app.get(alerts_key)
    return alerts.judge if alerts is not None else None


async def _alerts_ctx(app: web.Application) -> AsyncIterator[None]:
    alerts = app[alerts_key]
    storage = app[storage_key]
    storage.on_transitions.append(alerts.recorded)
    tasks = [
        asyncio.create_task(alerts.run(storage), name="alert-rules"),
        asyncio.create_task(_publish(app[settings_key], alerts, storage), name="alert-sinks"),
        asyncio.create_task(silent.run(storage, lambda: alerts.ruleset), name="alert-silence"),
    ]
    for task in tasks:
        task.add_done_callback(_died)
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _publish(settings: Settings, alerts: Alerts, storage) -> None:
    """The sinks, on the one web node holding the publisher lock (the others wait their turn)."""
    urls = [u.strip() for u in (settings.telering_alertmanager_url or "").split(",") if u.strip()]
    if not settings.telering_alerts_kafka and not urls:
        return
    lock = PublisherLock(settings.database_url)
    try:
        while not await lock.try_acquire():
            await asyncio.sleep(LOCK_RETRY_S)
        outbox = Outbox(storage)
        async with aiohttp.ClientSession() as session, asyncio.TaskGroup() as group:
            if settings.telering_alerts_kafka:
                topic = Topics.with_prefix(settings.telering_topic_prefix).alerts
                group.create_task(KafkaSink(settings, topic, outbox, _wakeup(alerts)).run(), name="alerts-kafka")
            for url in urls:
                sink = AlertmanagerSink(
                    url,
                    outbox,
                    lambda: alerts.ruleset,
                    alerts.metrics,
                    _wakeup(alerts),
                    session,
                    interval_s=settings.telering_alertmanager_interval,
                )
                group.create_task(sink.run(), name=f"alerts-{url}")
    finally:
        await lock.release()


def _wakeup(alerts: Alerts) -> asyncio.Event:
    event = asyncio.Event()
    alerts.wakeups.append(event)
    return event


async def _close_sockets(app: web.Application) -> None:
    app[alert_hub_key].close_all()


def _died(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("alerting task %s died: %r", task.get_name(), task.exception())
