"""GET /api/v1/live: a real WebSocket client receives what POST /api/v1/batches stored."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import aiohttp
import pytest
from aiohttp import WSMsgType

from protocol.readings import reading_out
from tests.support.waiting import async_eventually
from tests.support.web import make_reading
from tests.web_node.writes import Writer, reading_at
from web_node import jsonio
from web_node.appkeys import live_hub_key
from web_node.read import live as live_module
from web_node.read.live import LiveHub, text_frame

T0 = 1_764_000_000.0


async def receive_readings(ws: aiohttp.ClientWebSocketResponse, n: int, timeout: float = 10.0) -> list[dict]:
    got = []
    while len(got) < n:
        msg = await ws.receive(timeout=timeout)
        assert msg.type == WSMsgType.TEXT, msg
        got.append(json.loads(msg.data))
    return got


async def test_client_receives_stored_readings_in_order_per_sensor(web_node_factory, http):
    node = await web_node_factory()
    writer = Writer(http, node)
    batch = [reading_at(f"s{i % 3}", i // 3, T0 + i) for i in range(60)]
    async with http.ws_connect(f"{node.url}/api/v1/live") as ws:
        await writer.store(batch)
        got = await receive_readings(ws, 60)
        for sensor in ("s0", "s1", "s2"):
            assert [r for r in got if r["sensor_id"] == sensor] == [r for r in batch if r["sensor_id"] == sensor]
        # a replayed batch stores only what is new, and only that is pushed
        await writer.store([*batch[-3:], reading_at("s0", 20, T0 + 100)])
        assert await receive_readings(ws, 1) == [reading_at("s0", 20, T0 + 100)]


async def test_live_message_equals_the_rest_answer(web_node_factory, http):
    node = await web_node_factory()
    async with http.ws_connect(f"{node.url}/api/v1/live") as ws:
        await Writer(http, node).store([reading_at("same", 0, T0 + 0.000001, temperature=-12.345678)])
        [pushed] = await receive_readings(ws, 1)
    async with http.get(f"{node.url}/api/v1/readings/latest", params={"limit": "1"}) as resp:
        assert (await resp.json())["readings"] == [pushed]


async def test_sensor_filter(web_node_factory, http):
    node = await web_node_factory()
    url = f"{node.url}/api/v1/live"
    async with http.ws_connect(url, params=[("sensor", "a"), ("sensor", "c")]) as some, http.ws_connect(url) as every:
        await Writer(http, node).store([reading_at(s, 0, T0) for s in "abcd"])
        assert sorted(r["sensor_id"] for r in await receive_readings(some, 2)) == ["a", "c"]
        assert sorted(r["sensor_id"] for r in await receive_readings(every, 4)) == list("abcd")
        await Writer(http, node).store([reading_at("c", 1, T0 + 1)])  # nothing for `some` but c
        assert (await receive_readings(some, 1))[0]["sensor_id"] == "c"


async def test_bad_requests_are_refused_before_the_handshake(web_node_factory, http):
    node = await web_node_factory()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{node.url}/api/v1/live", params={"sensor": "not a sensor id"})
    assert refused.value.status == 400
    async with http.get(f"{node.url}/api/v1/live") as resp:  # plain HTTP, no upgrade
        assert (resp.status, (await resp.json())["error"]) == (400, "websocket_required")


async def test_slow_client_is_dropped_and_ingestion_goes_on(web_node_factory, http):
    node = await web_node_factory()
    hub = node.app[live_hub_key]
    hub.queue_size = 5
    writer = Writer(http, node)
    async with (
        http.ws_connect(f"{node.url}/api/v1/live") as slow,
        http.ws_connect(f"{node.url}/api/v1/live", params={"sensor": "quiet"}) as idle,
    ):
        # one batch of 8 cannot fit a queue of 5: the client is dropped at once, ingestion answers 200
        assert await writer.store([reading_at("busy", i, T0 + i) for i in range(8)]) == 8
        msg = await slow.receive(timeout=10)
        assert (msg.type, slow.close_code) == (WSMsgType.CLOSE, aiohttp.WSCloseCode.TRY_AGAIN_LATER), msg
        assert hub.dropped == 1
        assert not idle.closed  # filtered out, so never behind
    await async_eventually(lambda: len(hub) == 0, timeout=10)


async def test_hub_bounds_each_queue_and_frees_it_on_drop():
    """Unit level: publishing never waits, each filter's frames are built once and shared, and a
    dropped client's queue holds only the close."""
    hub = LiveHub(queue_size=3)
    slow, other, picky = hub.subscribe(), hub.subscribe(), hub.subscribe(["x"])
    rows = [stored_row(make_reading("y", i)) for i in range(4)]
    hub.publish(rows[:3])
    assert (slow.queued, picky.queued, len(hub)) == (3, 0, 3)
    sent, shared = slow.queue.get_nowait(), other.queue.get_nowait()
    assert sent is shared and sent.count == 3  # the same bytes object for every unfiltered client
    assert sent.data == b"".join(text_frame(jsonio.dumps(reading_out(row))) for row in rows[:3])
    hub.publish(rows[3:])
    assert (slow.queue.qsize(), slow.closing, len(hub), hub.dropped) == (1, True, 1, 2)
    hub.close_all()
    assert picky.closing and len(hub) == 0


def test_hub_renders_only_what_a_client_follows(monkeypatch):
    """With filtered clients alone, a page's other readings are not even serialised (the live
    feed reads every stored row; most of them go to nobody)."""
    rendered = []

    def counting(row):
        rendered.append(row["sensor_id"])
        return reading_out(row)

    monkeypatch.setattr(live_module, "reading_out", counting)
    hub = LiveHub(queue_size=100)
    first, second = hub.subscribe(["a"]), hub.subscribe(["a", "b"])
    rows = [stored_row(make_reading(sensor, i)) for i in range(3) for sensor in ("a", "b", "c", "d")]
    hub.publish(rows)
    assert sorted(rendered) == ["a"] * 3 + ["b"] * 3
    assert (first.queued, second.queued) == (3, 6)
    rendered.clear()
    hub.subscribe()  # one client following everything: every reading is rendered
    hub.publish(rows)
    assert len(rendered) == len(rows)


def stored_row(reading: dict) -> dict:
    """A reading as the live feed reads it from the table: `ts` in unix seconds."""
    ts = datetime.fromisoformat(reading["ts"].replace("Z", "+00:00")).timestamp()
    return {**reading, "ts": ts}


async def test_server_sends_heartbeat_pings(web_node_factory, http):
    node = await web_node_factory()
    node.app[live_hub_key].heartbeat = 0.2
    async with http.ws_connect(f"{node.url}/api/v1/live", autoping=False) as ws:
        msg = await ws.receive(timeout=10)
        assert msg.type == WSMsgType.PING


async def test_shutdown_closes_live_clients(web_node_factory, http):
    node = await web_node_factory()
    async with http.ws_connect(f"{node.url}/api/v1/live") as ws:
        await async_eventually(lambda: len(node.app[live_hub_key]) == 1, timeout=10)
        cleanup = asyncio.create_task(node.runner.cleanup())
        msg = await ws.receive(timeout=10)
        assert (msg.type, ws.close_code) == (WSMsgType.CLOSE, aiohttp.WSCloseCode.GOING_AWAY)
        await asyncio.wait_for(cleanup, timeout=10)
