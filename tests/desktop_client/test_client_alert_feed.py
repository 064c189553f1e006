"""The dashboard's alert calls (ApiClient) and AlertFeed against web nodes that serve no alerts.

Needs: a bare aiohttp server on loopback with no alert routes, standing for a web node from
before alerting (every alert route answers 404), and a real web node in this test's event loop
(tests/support/web.py) with alerting not configured. Either way the dashboard shows no alerts,
and asks again only on the next reload, not in a loop. The feed against a web node whose rules
fire is tested end to end in test_client_alerts_live.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from desktop_client.alert_feed import AlertFeed
from desktop_client.alert_records import AlertSnapshot
from desktop_client.api import AlertingOff, ApiClient
from tests.support.waiting import async_eventually

QUIET_S = 1.5  # a feed that retried instead of waiting would ask again within 0.3 s (its first back-off)


@pytest.fixture
async def bare_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A real HTTP server with no routes: its URL and the paths asked of it, in order."""
    asked: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler):  # type: ignore[no-untyped-def]
        asked.append(request.path)
        return await handler(request)

    runner = web.AppRunner(web.Application(middlewares=[record]), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", asked
    await runner.cleanup()


def feed_for(client: ApiClient, snapshots: list, generation: int = 0) -> AlertFeed:
    return AlertFeed(client, lambda: (generation, 600), lambda _s: True, snapshots.append, snapshots.append, 0.5)


async def test_every_alert_call_to_a_web_node_without_alerts_is_alerting_off(bare_server, http):
    url, asked = bare_server
    client = ApiClient(url, http)
    for call in (client.alert_rules(), client.alerts(), client.alert_history(0.0, 10)):
        with pytest.raises(AlertingOff, match="404"):
            await call
    with pytest.raises(AlertingOff, match="404"):
        async with client.alert_transitions():
            pass
    assert asked == ["/api/v1/alerts/rules", "/api/v1/alerts", "/api/v1/alerts/history", "/api/v1/alerts/live"]


async def test_the_feed_says_alerting_is_off_once_and_asks_again_only_on_reload(bare_server, http):
    url, asked = bare_server
    snapshots: list = []
    feed = feed_for(ApiClient(url, http), snapshots, generation=4)
    running = asyncio.create_task(feed.run())
    try:
        assert snapshots == [] and asked == []  # nothing before the first reload
        feed.reload()
        await async_eventually(lambda: snapshots == [AlertSnapshot(4, enabled=False)], timeout=10)
        first_round = len(asked)
        with pytest.raises(TimeoutError):  # quiet: no retry loop against a web node without alerts
            await asyncio.wait_for(async_eventually(lambda: len(asked) > first_round, timeout=QUIET_S + 1), QUIET_S)
        feed.reload()
        await async_eventually(lambda: len(snapshots) == 2, timeout=10)
        assert snapshots[1] == AlertSnapshot(4, enabled=False) and len(asked) == 2 * first_round
        assert not running.done()
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_web_node_without_rules_shows_no_alerts(web_node_factory, http):
    """The real web node, alerting not configured: an empty snapshot (or `off`, from a web node
    that does not have the alert routes at all), and the feed stays up."""
    node = await web_node_factory()
    snapshots: list = []
    feed = feed_for(ApiClient(node.url, http), snapshots)
    running = asyncio.create_task(feed.run())
    try:
        feed.reload()
        await async_eventually(lambda: len(snapshots) == 1, timeout=10)
        [shown] = snapshots
        assert (shown.rules, shown.alerts, shown.transitions) == ([], [], [])
        assert not running.done()
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
