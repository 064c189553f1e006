"""`GET /api/v1/alerts/live`: each transition as it is recorded, on the live socket's machinery
(web_node/live.py: a bounded queue per client, slow clients dropped, never waiting)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from aiohttp import web

from web_node.alerts.engine import Transition
from web_node.appkeys import alert_feed_key, alert_hub_key
from web_node.read import params
from web_node.read.live import LiveHub, serve_socket


class AlertHub(LiveHub):
    """The alert sockets of one web node; `publish_transitions` fans transitions out to them."""

    def publish_transitions(self, transitions: Sequence[Transition]) -> None:
        if self._clients and transitions:
            self.publish_texts([(t.sensor_id, json.dumps(t.as_json())) for t in transitions])


async def alerts_live(request: web.Request) -> web.WebSocketResponse:
    """The WebSocket: one JSON text message per transition, optionally `?sensor=` filtered."""
    params.check_names(request.query, ("sensor",), repeatable=("sensor",))
    feed = request.app.get(alert_feed_key)  # several processes: the transitions table is followed
    ready = feed.follow if feed is not None else None
    return await serve_socket(request, request.app[alert_hub_key], params.sensors(request.query), ready)
