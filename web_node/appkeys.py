"""Typed keys for everything the application object carries, all in this one place.

The types are imported for type checkers only: the modules that define them read their keys
from here, so importing a key never imports the other path's modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import aiohttp

    from protocol.keyring import Keyring
    from protocol.settings import Settings
    from web_node.alerts.live import AlertHub
    from web_node.alerts.service import Alerts
    from web_node.health import HealthProbe
    from web_node.metrics import Metrics
    from web_node.outage import StorageOutage
    from web_node.read.changes import ChangeFeed
    from web_node.read.live import LiveHub
    from web_node.read.live_limits import LiveLimits
    from web_node.read.stats_cache import StatsCache
    from web_node.siblings import Role
    from web_node.write.placement import Placement
    from web_node.write.retention import Retention
    from web_node.write.storage import Storage

settings_key: web.AppKey[Settings] = web.AppKey("settings")
keyring_key: web.AppKey[Keyring] = web.AppKey("keyring")
storage_key: web.AppKey[Storage] = web.AppKey("storage")
storage_outage_key: web.AppKey[StorageOutage] = web.AppKey("storage_outage")
health_probe_key: web.AppKey[HealthProbe] = web.AppKey("health_probe")
metrics_key: web.AppKey[Metrics] = web.AppKey("metrics")
live_hub_key: web.AppKey[LiveHub] = web.AppKey("live_hub")
placement_key: web.AppKey[Placement] = web.AppKey("placement")
retention_key: web.AppKey[Retention] = web.AppKey("retention")
role_key: web.AppKey[Role] = web.AppKey("role")
forward_session_key: web.AppKey[aiohttp.ClientSession] = web.AppKey("forward_session")
change_feed_key: web.AppKey[ChangeFeed] = web.AppKey("change_feed")
alert_feed_key: web.AppKey[ChangeFeed] = web.AppKey("alert_feed")
live_limits_key: web.AppKey[LiveLimits] = web.AppKey("live_limits")
stats_cache_key: web.AppKey[StatsCache] = web.AppKey("stats_cache")
alerts_key: web.AppKey[Alerts] = web.AppKey("alerts")  # absent: alerting is off
alert_hub_key: web.AppKey[AlertHub] = web.AppKey("alert_hub")
